// Watches as kube-apiserver serves them: from a resourceVersion (every later event, none twice),
// synthetic ADDED for "" and "0" (or sendInitialEvents, then a bookmark marking their end),
// objects moving in and out of the selection as ADDED and DELETED, BOOKMARKs with the current
// resourceVersion, a server-side timeout, and an ERROR event (410 Expired) for a resourceVersion
// older than the kept history.
import type { JsonObject } from './patch.js';
import { apiVersionOf, qualifiedName, type ResourceDef } from './resources.js';
import { badRequest, failure } from './status.js';
import type { Store, StoreEvent } from './store.js';

/** The query of a watch. */
export interface WatchQuery {
  readonly resourceVersion?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly allowWatchBookmarks?: boolean;
  readonly sendInitialEvents?: boolean;
  readonly timeoutSeconds?: number;
}

/** Where a watch's events go (one JSON object per line on the HTTP stream). */
export interface WatchSink {
  write(event: JsonObject): void;
  /** Writes a line as is. */
  writeRaw(line: string): void;
  /** Ends the stream cleanly. */
  end(): void;
  /** Cuts the connection (as a load balancer would). */
  destroy(): void;
}

/** A watch being served. */
export interface OpenWatch {
  readonly resource: string;
  /** Writes a line as is on the stream (garbage, a truncated event...), for the client's input checks. */
  writeRaw(line: string): void;
  readonly namespace?: string;
  readonly query: WatchQuery;
  /** Sends a BOOKMARK with the current resourceVersion (when the client allowed them). */
  bookmark(): void;
  /** Stops it: the stream ends cleanly, or the connection is cut when `abrupt`. */
  end(abrupt?: boolean): void;
}

/** What a watch needs from the double's state. */
export interface WatchContext {
  readonly store: Store;
  /** The object as served at `def`'s version. */
  out(def: ResourceDef, o: JsonObject): JsonObject;
  /** The open watches (a watch adds itself, and removes itself when it ends). */
  readonly watches: Set<OpenWatch>;
  readonly bookmarkIntervalMs: number;
  readonly watchTimeoutSeconds: number;
}

function bookmarkEvent(
  ctx: WatchContext,
  def: ResourceDef,
  annotations?: Record<string, string>,
): JsonObject {
  return {
    type: 'BOOKMARK',
    object: {
      kind: def.kind,
      apiVersion: apiVersionOf(def),
      metadata: {
        resourceVersion: String(ctx.store.rv),
        ...(annotations ? { annotations } : {}),
      },
    },
  };
}

/** Checks a watch's resourceVersion (400) and returns what starts it on a sink. */
export function prepareWatch(
  ctx: WatchContext,
  def: ResourceDef,
  namespace: string | undefined,
  q: WatchQuery,
  match: (o: JsonObject) => boolean,
): (sink: WatchSink) => OpenWatch {
  const rvParam = q.resourceVersion ?? '';
  const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
  if (from !== undefined && (!Number.isInteger(from) || from < 0))
    throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a number`);
  const res = qualifiedName(def);
  return (sink) => {
    let ended = false;
    const cleanup: (() => void)[] = [];
    const w: OpenWatch = {
      resource: res,
      ...(def.namespaced && namespace ? { namespace } : {}),
      query: q,
      bookmark: () => {
        if (!ended && q.allowWatchBookmarks) sink.write(bookmarkEvent(ctx, def));
      },
      writeRaw: (line) => {
        if (!ended) sink.writeRaw(line);
      },
      end: (abrupt) => {
        if (ended) return;
        ended = true;
        for (const c of cleanup) c();
        ctx.watches.delete(w);
        if (abrupt) sink.destroy();
        else sink.end();
      },
    };
    const send = (type: string, o: JsonObject): void =>
      sink.write({ type, object: ctx.out(def, o) });
    if (from !== undefined && from < ctx.store.compacted) {
      sink.write({
        type: 'ERROR',
        object: failure(
          410,
          'Expired',
          `too old resource version: ${from} (${ctx.store.compacted})`,
        ),
      });
      ended = true;
      sink.end();
      return w;
    }
    const deliver = (e: StoreEvent): void => {
      const was = e.prev !== undefined && e.type !== 'ADDED' && match(e.prev);
      const is = match(e.obj);
      if (e.type === 'DELETED') {
        if (was || is) send('DELETED', e.obj);
      } else if (is) send(was ? 'MODIFIED' : 'ADDED', e.obj);
      else if (was) send('DELETED', e.obj);
    };
    if (from === undefined || q.sendInitialEvents === true) {
      for (const [, o] of ctx.store.current(res)) if (match(o)) send('ADDED', o);
      if (q.sendInitialEvents === true && q.allowWatchBookmarks)
        sink.write(bookmarkEvent(ctx, def, { 'k8s.io/initial-events-end': 'true' }));
    } else for (const e of ctx.store.since(res, from)) deliver(e);
    cleanup.push(ctx.store.subscribe((e) => e.res === res && deliver(e)));
    if (q.allowWatchBookmarks && ctx.bookmarkIntervalMs > 0) {
      const t = setInterval(() => w.bookmark(), ctx.bookmarkIntervalMs);
      cleanup.push(() => clearInterval(t));
    }
    const timeout = q.timeoutSeconds ?? ctx.watchTimeoutSeconds;
    if (timeout > 0) {
      const t = setTimeout(() => w.end(), timeout * 1000);
      cleanup.push(() => clearTimeout(t));
    }
    ctx.watches.add(w);
    return w;
  };
}
