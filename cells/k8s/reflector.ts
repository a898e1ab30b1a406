// A list+watch reflector: keeps a statedb table equal to a resource on the API server. It lists
// (paginated), replaces the table's contents, marks the table initialized, then watches from the
// list's resourceVersion, resuming from the last version it saw (an event's or a bookmark's) when
// a stream ends or breaks, so that no event is missed or applied twice; "too old" (410 Gone,
// Expired) means list again. Objects stay plain JSON, slimmed by the resource's transform.
import { errorMessage, sleep, type Health, type Logger } from '../../core/hive/index.js';
import type { DB, Table, WriteTxn } from '../../core/statedb/index.js';
import { jittered } from './backoff.js';
import { isGone, K8sHttpError, type WatchEvent } from './transport.js';
import { objectKey, type K8sObject } from './types.js';

/** One page of a list. */
export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  /** The token of the next page, when there is one. */
  readonly continue?: string;
}

/** Where a reflector lists and watches (the API server, or a test's script). */
export interface ListWatcher {
  list(opts: { limit: number; continue?: string; signal: AbortSignal }): Promise<ListPage>;
  /** Follows events from `resourceVersion` (with bookmarks) until the stream ends. */
  watch(
    opts: { resourceVersion: string; signal: AbortSignal },
    onEvent: (e: WatchEvent) => void,
  ): Promise<void>;
}

/** What a reflector needs. */
export interface ReflectorParams<T extends K8sObject> {
  /** The resource's name in logs and health (e.g. `pods`). */
  readonly name: string;
  readonly db: DB;
  readonly table: Table<T>;
  readonly source: ListWatcher;
  /** Whether objects must have a namespace. */
  readonly namespaced: boolean;
  /** Marks the table initialized (the statedb initializer registered for this reflector). */
  readonly initialized: (txn: WriteTxn) => void;
  /** Drops what the agent never reads (runs on a validated object it may change in place). */
  readonly transform?: (o: K8sObject) => T;
  /** Checks what the generic validation does not; returns why an object is invalid. */
  readonly validate?: (o: K8sObject) => string | undefined;
  readonly health: Health;
  readonly logger: Logger;
  /** Longest wait between attempts (--k8s-watch-backoff-max). */
  readonly backoffMaxMs: number;
  /** Objects per list page. */
  readonly pageSize?: number;
  /** Waits between attempts (tests replace it to see the delays). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  /** The clock that tells a stream ended at once from one that ran (tests replace it). */
  readonly now?: () => number;
}

/** A stream that ends without an event sooner than this after it started "ended at once". */
const QUICK_END_MS = 1000;

/** How many invalid objects health names (the rest are counted). */
const NAMED = 3;
/** Annotations the agent never reads and that can be as large as the object itself. */
const DROPPED_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];

/** The characters of a name: printable ASCII but '/' (Kubernetes' names are narrower still). */
const NAME_CHARS = /^[\x21-\x2e\x30-\x7e]*$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): boolean {
  return v === undefined || (isRecord(v) && Object.values(v).every((x) => typeof x === 'string'));
}

/** Why `o` is not a usable object (no name, wrong types), or undefined. */
export function invalidReason(o: unknown, namespaced: boolean): string | undefined {
  if (!isRecord(o)) return 'not an object';
  const m = o.metadata;
  if (!isRecord(m)) return 'no metadata';
  if (typeof m.name !== 'string' || m.name === '') return 'no metadata.name';
  // Names are keys here (`namespace/name`): no name the API server accepts has a '/', and none
  // has anything but printable ASCII (control or bidi characters would reach logs and health).
  if (m.name.length > 253 || !NAME_CHARS.test(m.name)) return 'metadata.name is not a valid name';
  if (namespaced && (typeof m.namespace !== 'string' || m.namespace === '')) {
    return 'no metadata.namespace';
  }
  if (
    typeof m.namespace === 'string' &&
    (m.namespace.length > 63 || !NAME_CHARS.test(m.namespace))
  ) {
    return 'metadata.namespace is not a valid name';
  }
  if (!namespaced && m.namespace !== undefined && m.namespace !== '') {
    return 'metadata.namespace set on a cluster-scoped object';
  }
  if (!stringMap(m.labels)) return 'metadata.labels is not a map of strings';
  if (!stringMap(m.annotations)) return 'metadata.annotations is not a map of strings';
  if (m.resourceVersion !== undefined && typeof m.resourceVersion !== 'string') {
    return 'metadata.resourceVersion is not a string';
  }
  if (m.uid !== undefined && typeof m.uid !== 'string') return 'metadata.uid is not a string';
  return undefined;
}

/** The name an object is known by in messages, whatever its shape. */
function describe(o: unknown): string {
  const m = isRecord(o) && isRecord(o.metadata) ? o.metadata : {};
  const ns = typeof m.namespace === 'string' ? `${m.namespace}/` : '';
  return typeof m.name === 'string' && m.name !== '' ? `${ns}${m.name}` : '<unnamed>';
}

/** Strips what no reader needs from every object (managed fields, last-applied annotation). */
export function stripCommon(o: K8sObject): K8sObject {
  const m = o.metadata as Record<string, unknown>;
  delete m.managedFields;
  const ann = m.annotations as Record<string, string> | undefined;
  if (ann) {
    const kept = Object.entries(ann).filter(([k]) => !DROPPED_ANNOTATIONS.includes(k));
    if (kept.length === 0) delete m.annotations;
    else if (kept.length !== Object.keys(ann).length) m.annotations = Object.fromEntries(kept);
  }
  return o;
}

/** A list+watch loop into one table; `run` until its signal aborts. */
export class Reflector<T extends K8sObject> {
  /** The last resourceVersion seen (list, event or bookmark); '' before the first list. */
  resourceVersion = '';
  private skipped = new Map<string, string>();
  private pending: WatchEvent[] = [];
  private flushScheduled = false;
  private synced = false;
  private lists = 0;
  private watchFailure: Error | undefined;
  private watchAbort: AbortController | undefined;
  /** "Too old" answers since the last event or bookmark (a server that answers 410 to every watch). */
  private goneStreak = 0;

  constructor(private readonly p: ReflectorParams<T>) {}

  /** How many lists it made (the first and each re-list). */
  get listCount(): number {
    return this.lists;
  }

  /** Lists and watches until `signal` aborts, retrying errors with backoff. */
  async run(signal: AbortSignal): Promise<void> {
    const wait = this.p.sleep ?? sleep;
    let attempt = 0;
    let emptyStreams = 0;
    const stopped = (): boolean => signal.aborted; // read afresh after each await
    while (!stopped()) {
      let phase = 'list';
      try {
        if (this.resourceVersion === '') {
          await this.listAndReplace(signal);
          attempt = 0;
        }
        phase = 'watch';
        const started = (this.p.now ?? Date.now)();
        const events = await this.watchOnce(signal);
        // A stream that ends (the server's timeout) is resumed at once; one that keeps ending at
        // once without an event waits, so that a server doing that is not hammered.
        if (events > 0 || (this.p.now ?? Date.now)() - started >= QUICK_END_MS) {
          attempt = 0;
          emptyStreams = 0;
          continue;
        }
        if (++emptyStreams < 2) continue;
        if (stopped()) return;
        await wait(jittered(attempt++, this.p.backoffMaxMs, this.p.random), signal);
      } catch (e) {
        if (stopped()) return;
        if (isGone(e)) {
          // Our resourceVersion is too old: list again and replace — at once the first time; when
          // the watch from a fresh list is "too old" again before any event, the server is not
          // going to let us watch, and listing in a loop would burn a core: back off.
          this.resourceVersion = '';
          emptyStreams = 0;
          if (this.goneStreak++ === 0) {
            this.p.logger.info(
              { resource: this.p.name, err: errorMessage(e) },
              'resource version too old, listing again',
            );
            continue;
          }
          const delay = jittered(this.goneStreak - 2, this.p.backoffMaxMs, this.p.random);
          const msg = `watch answered "too old" ${this.goneStreak} times in a row right after a list, listing again in ${formatMs(delay)}: ${errorMessage(e)}`;
          this.p.logger.warn(
            { resource: this.p.name, err: errorMessage(e), delayMs: Math.round(delay) },
            'watch too old again right after a list',
          );
          this.p.health.degraded(`synced, ${this.count()} objects; ${msg}`);
          await wait(delay, signal);
          continue;
        }
        const delay = jittered(attempt++, this.p.backoffMaxMs, this.p.random);
        const msg = `${phase} failed, retrying in ${formatMs(delay)}: ${errorMessage(e)}`;
        this.p.logger.warn(
          { resource: this.p.name, err: errorMessage(e), delayMs: Math.round(delay) },
          `${phase} failed`,
        );
        this.p.health.degraded(this.synced ? `synced, ${this.count()} objects; ${msg}` : msg);
        await wait(delay, signal);
      }
    }
  }

  private count(): number {
    return this.p.table.count(this.p.db.readTxn());
  }

  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const items: unknown[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.p.source.list({
        limit: this.p.pageSize ?? 500,
        ...(cont !== undefined ? { continue: cont } : {}),
        signal,
      });
      for (const i of page.items) items.push(i);
      rv = page.resourceVersion;
      cont = page.continue !== undefined && page.continue !== '' ? page.continue : undefined;
    } while (cont !== undefined && !signal.aborted);
    if (signal.aborted) return;
    this.lists++;
    const t = this.p.table;
    const seen = new Set<string>();
    const skipped = new Map<string, string>();
    this.p.db.update([t], (txn) => {
      for (const raw of items) {
        const key = this.upsert(txn, raw, skipped);
        if (key !== undefined) seen.add(key);
      }
      // Objects gone since the last list; an invalid object keeps what was stored under its key.
      for (const o of [...t.all(txn)]) {
        const key = objectKey(o);
        if (!seen.has(key) && !skipped.has(key)) txn.deleteKey(t, key);
      }
      if (!this.synced) this.p.initialized(txn);
    });
    this.skipped = skipped;
    this.synced = true;
    this.resourceVersion = rv;
    this.report();
  }

  /** Inserts a valid object (unless unchanged) and returns its key; records an invalid one. */
  private upsert(txn: WriteTxn, raw: unknown, skipped: Map<string, string>): string | undefined {
    const why = invalidReason(raw, this.p.namespaced) ?? this.p.validate?.(raw as K8sObject);
    const t = this.p.table;
    if (why !== undefined) {
      const name = describe(raw);
      this.p.logger.warn(
        { resource: this.p.name, object: name, reason: why },
        'invalid object skipped',
      );
      skipped.set(name, why);
      return undefined;
    }
    const obj = raw as K8sObject;
    const key = objectKey(obj);
    skipped.delete(key);
    const old = t.get(txn, key);
    const rv = obj.metadata.resourceVersion;
    if (old && rv !== undefined && old.metadata.resourceVersion === rv) return key;
    const slim = this.p.transform ? this.p.transform(stripCommon(obj)) : (stripCommon(obj) as T);
    txn.insert(t, slim);
    return key;
  }

  /** Watches once from the current version; returns how many events came. */
  private async watchOnce(signal: AbortSignal): Promise<number> {
    const ctl = new AbortController();
    this.watchAbort = ctl;
    this.watchFailure = undefined;
    const onAbort = (): void => {
      ctl.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let events = 0;
    try {
      await this.p.source.watch(
        { resourceVersion: this.resourceVersion, signal: ctl.signal },
        (e) => {
          if (ctl.signal.aborted) return; // after an ERROR event nothing more is applied
          events++;
          this.pending.push(e);
          if (e.type === 'ERROR') {
            this.flush();
            return;
          }
          if (!this.flushScheduled) {
            this.flushScheduled = true;
            queueMicrotask(() => {
              this.flush();
            });
          }
        },
      );
    } catch (e) {
      this.watchFailure ??= e instanceof Error ? e : new Error(errorMessage(e));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    this.flush();
    this.watchAbort = undefined;
    if (this.watchFailure !== undefined && !signal.aborted) throw this.watchFailure;
    return events;
  }

  /** Applies the events received so far in one transaction. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const t = this.p.table;
    let failure: Error | undefined;
    this.p.db.update([t], (txn) => {
      for (const e of batch) {
        if (failure !== undefined) break;
        failure = this.apply(txn, e);
      }
    });
    if (failure !== undefined) {
      this.watchFailure = failure;
      this.watchAbort?.abort();
    }
    this.report();
  }

  /** Applies one event; returns the failure an ERROR event means. */
  private apply(txn: WriteTxn, e: WatchEvent): Error | undefined {
    const o = e.object;
    if (e.type === 'ERROR') {
      const s = isRecord(o) ? o : {};
      const code = typeof s.code === 'number' ? s.code : 500;
      return K8sHttpError.of(`watch ${this.p.name}`, code, s);
    }
    const meta = isRecord(o) && isRecord(o.metadata) ? o.metadata : undefined;
    const rv = meta && typeof meta.resourceVersion === 'string' ? meta.resourceVersion : undefined;
    this.goneStreak = 0; // the watch works: a later "too old" lists again at once
    if (e.type === 'BOOKMARK') {
      if (rv !== undefined) this.resourceVersion = rv;
      return undefined;
    }
    if (e.type === 'ADDED' || e.type === 'MODIFIED') {
      this.upsert(txn, o, this.skipped);
    } else if (e.type === 'DELETED') {
      if (meta && typeof meta.name === 'string') {
        const key =
          typeof meta.namespace === 'string' && meta.namespace !== ''
            ? `${meta.namespace}/${meta.name}`
            : meta.name;
        txn.deleteKey(this.p.table, key);
        this.skipped.delete(key);
      }
    } else {
      this.p.logger.warn(
        { resource: this.p.name, type: e.type },
        'unknown watch event type ignored',
      );
    }
    if (rv !== undefined) this.resourceVersion = rv;
    return undefined;
  }

  private report(): void {
    const msg = `synced, ${this.count()} objects`;
    if (this.skipped.size === 0) {
      this.p.health.ok(msg);
      return;
    }
    const named = [...this.skipped].slice(0, NAMED).map(([k, r]) => `${k}: ${r}`);
    const more = this.skipped.size > NAMED ? ` and ${this.skipped.size - NAMED} more` : '';
    this.p.health.degraded(
      `${msg}; skipped ${this.skipped.size} invalid: ${named.join('; ')}${more}`,
    );
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}
