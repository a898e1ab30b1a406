import { ApiError, apiStream, shown, type ApiStream, type Model } from '../../core/api/index.js';
import type { BpfMap, MapRegistry } from '../../core/bpf/index.js';
import type { Logger } from '../../core/hive/index.js';
import type { CacheEntry, MapCacheRegistry } from './cache.js';
import type { MapPressure } from './maps.js';
import { MAX_SUBSCRIBERS, type MapEntryEvent } from './events.js';

/**
 * Entries shown of one map, up to this many (an ipcache may hold millions; one reply must not
 * stall the agent): `cache-truncated` says when the map has more.
 */
export const MAX_DUMP = 100_000;

function entryModel(e: CacheEntry): Model<'BPFMapEntry'> {
  return {
    key: e.key,
    value: e.value,
    'desired-action': e.desiredAction,
    ...(e.lastError !== undefined ? { 'last-error': e.lastError } : {}),
  };
}

/** Entries formatted per turn of the event loop, so listing a big map never stalls the agent. */
const SLICE = 2_000;

/** The first `limit` entries of `source`, formatted in slices between which other work runs. */
async function collect<T>(
  source: Iterable<T>,
  limit: number,
  model: (x: T) => Model<'BPFMapEntry'>,
): Promise<Model<'BPFMapEntry'>[]> {
  const out: Model<'BPFMapEntry'>[] = [];
  for (const x of source) {
    if (out.length >= limit) break;
    out.push(model(x));
    if (out.length % SLICE === 0) await new Promise((r) => setImmediate(r));
  }
  return out;
}

async function describeMap(
  m: BpfMap<unknown, unknown>,
  caches: MapCacheRegistry,
  limit: number,
): Promise<Model<'BPFMap'>> {
  // One more than shown, to know whether there are more. A map without an owner's cache (one
  // the datapath writes) shows what it holds, as Cilium's maps without a value cache.
  const owned = caches.source(m.name);
  const cache = owned
    ? await collect(owned, limit + 1, entryModel)
    : await collect(m.entries(), limit + 1, ([k, v]) => {
        const [key, value] = m.format(k, v);
        return { key, value };
      });
  const truncated = cache.length > limit;
  return {
    path: m.raw.pinPath ?? m.name,
    cache: truncated ? cache.slice(0, limit) : cache,
    ...(truncated ? { 'cache-truncated': true } : {}),
    name: m.name,
    backend: m.raw.backend,
    'map-type': m.raw.type,
    'key-size': m.raw.keySize,
    'value-size': m.raw.valueSize,
    'max-entries': m.raw.maxEntries,
    entries: m.count(),
    errors: m.errorCount,
    ...(m.lastError !== undefined ? { 'last-error': m.lastError } : {}),
  };
}

/**
 * Lets one map listing run at a time (the others wait their turn): each holds up to
 * MAX_DUMP formatted entries, so concurrent ones would multiply memory, not speed.
 */
export class DumpQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after the listings queued before it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * /healthz `bpf-maps`, as Cilium's: each map's size (max entries) and the share of the node's
 * memory the dynamically sized maps take; with the last pressure check, how full each counted
 * map was (`pressure`, Cellium's addition).
 */
export function bpfMapStatus(
  registry: MapRegistry,
  ratio: number,
  pressure: readonly Pick<MapPressure, 'name' | 'ratio'>[] = [],
): Model<'BPFMapStatus'> {
  const fill = new Map(pressure.map((p) => [p.name, p.ratio]));
  return {
    'dynamic-size-ratio': ratio,
    maps: registry.list().map((m) => {
      const p = fill.get(m.name);
      return { name: m.name, size: m.raw.maxEntries, ...(p === undefined ? {} : { pressure: p }) };
    }),
  };
}

/** The maps for GET /v1/debuginfo's subsystem: one line each, name, pin, entries/max. */
export function mapsText(registry: MapRegistry): string {
  return registry
    .list()
    .map((m) => `${m.name} ${m.raw.pinPath ?? '(not pinned)'} ${m.count()}/${m.raw.maxEntries}`)
    .join('\n');
}

/** GET /v1/map: every map with its cache (Cilium's CLI counts entries and errors from it). */
export async function listMaps(
  registry: MapRegistry,
  caches: MapCacheRegistry,
  limit = MAX_DUMP,
): Promise<Model<'BPFMapList'>> {
  const maps: Model<'BPFMap'>[] = [];
  for (const m of registry.list()) maps.push(await describeMap(m, caches, limit));
  return { maps };
}

/** GET /v1/map/{name}: one map with its cache. */
export function getMap(
  registry: MapRegistry,
  caches: MapCacheRegistry,
  name: string,
  limit = MAX_DUMP,
): Promise<Model<'BPFMap'>> {
  return describeMap(getOpenMap(registry, name), caches, limit);
}

function getOpenMap(registry: MapRegistry, name: string): BpfMap<unknown, unknown> {
  const m = registry.get(name);
  if (!m) {
    const known = registry
      .list()
      .map((x) => x.name)
      .join(', ');
    throw new ApiError(404, `map ${shown(name)} not found (maps: ${known || 'none open'})`);
  }
  return m;
}

/** A buffered event as the API serves it. */
export function eventModel(e: MapEntryEvent): Model<'MapEvent'> {
  return {
    timestamp: e.timestamp.toISOString(),
    action: e.action,
    key: e.key,
    value: e.value,
    'desired-action': e.desiredAction,
    ...(e.lastError !== undefined ? { 'last-error': e.lastError } : {}),
  };
}

/**
 * GET /v1/map/{name}/events: the buffered events as a stream of MapEvent objects; with `follow`
 * every new one too, until the client goes away, falls behind, or the buffer closes at stop.
 */
export function mapEvents(
  registry: MapRegistry,
  caches: MapCacheRegistry,
  logger: Logger,
  name: string,
  follow: boolean,
): ApiStream {
  getOpenMap(registry, name);
  const ring = caches.events(name);
  if (!ring) {
    throw new ApiError(
      404,
      `map ${shown(name)} has no event buffer: only maps written from desired state have one (enable or size it with --bpf-map-event-buffers ${name}=enabled,128)`,
    );
  }
  if (follow && ring.subscribers >= MAX_SUBSCRIBERS) {
    throw new ApiError(
      429,
      `map ${shown(name)} already has ${MAX_SUBSCRIBERS} event streams open: close one first`,
    );
  }
  if (follow) ring.reserve();
  return apiStream((send, signal) => {
    if (!follow) {
      for (const e of ring.dump()) send(eventModel(e));
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const state = { dumping: true, finished: false };
      let unsubscribe = (): void => undefined;
      const done = (why: string): void => {
        state.finished = true;
        unsubscribe();
        signal.removeEventListener('abort', gone);
        logger.info({ map: name, followers: ring.subscribers, why }, 'map event stream ended');
        resolve();
      };
      const gone = (): void => {
        done('client gone');
      };
      unsubscribe = ring.subscribe({
        next: (e) => {
          // The buffered events may exceed what a client holds unread; new ones may not.
          if (!send(eventModel(e)) && !state.dumping) {
            done('client fell behind by 1 MiB');
          }
        },
        end: () => {
          done('agent stopping');
        },
      });
      state.dumping = false;
      if (state.finished) return;
      if (signal.aborted) gone();
      else signal.addEventListener('abort', gone, { once: true });
    });
  });
}
