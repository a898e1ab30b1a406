import type { MapSpec } from '../../core/bpf/index.js';
import { token } from '../../core/hive/index.js';
import type { ReconcileEvent, Status } from '../../core/reconciler/index.js';
import { EventRing, type DesiredAction, type MapEntryEvent } from './events.js';

/** One entry of a map's cache: a key the owner wants in the map, and how far that got. */
export interface CacheEntry {
  readonly key: string;
  readonly value: string;
  readonly desiredAction: DesiredAction;
  readonly lastError?: string;
}

/** Where a map's cache comes from: its owner's desired state, read when asked. */
export interface MapCacheSource {
  entries(): Iterable<CacheEntry>;
}

/** What an owner gets back for its map: the map's event buffer (absent when disabled). */
export interface MapCacheHandle {
  record(e: Omit<MapEntryEvent, 'timestamp'>): void;
}

/** The size and TTL of one map's event buffer (size 0: no buffer). */
export interface EventBufferConfig {
  readonly size: number;
  readonly ttlMs: number;
}

/**
 * The caches and event buffers of the agent's maps. The cell that writes a map from desired
 * state registers it here (its cache source, and it records each write in the map's buffer);
 * the maps cell serves them on /v1/map.
 */
export class MapCacheRegistry {
  private readonly sources = new Map<string, MapCacheSource>();
  private readonly rings = new Map<string, EventRing>();

  constructor(private readonly bufferOf: (name: string) => EventBufferConfig) {}

  /** Registers the owner of map `name`; a map has one owner. */
  register(name: string, source: MapCacheSource): MapCacheHandle {
    if (this.sources.has(name)) throw new Error(`map ${name} already has a cache owner`);
    this.sources.set(name, source);
    const { size, ttlMs } = this.bufferOf(name);
    const ring = size > 0 ? new EventRing(size, ttlMs) : undefined;
    if (ring) this.rings.set(name, ring);
    return {
      record: (e) => ring?.push({ timestamp: new Date(), ...e }),
    };
  }

  /** The map's cache, or undefined when no cell owns its desired state. */
  /** The entries of map `name`'s cache as its owner has them now, or undefined without one. */
  source(name: string): Iterable<CacheEntry> | undefined {
    return this.sources.get(name)?.entries();
  }

  cache(name: string, limit = Infinity): CacheEntry[] | undefined {
    const s = this.sources.get(name);
    if (!s) return undefined;
    const out: CacheEntry[] = [];
    for (const e of s.entries()) {
      if (out.length >= limit) break;
      out.push(e);
    }
    return out;
  }

  /** The map's event buffer, if it has one. */
  events(name: string): EventRing | undefined {
    return this.rings.get(name);
  }

  /** Ends every follow stream (at stop). */
  close(): void {
    for (const r of this.rings.values()) r.close();
  }
}

/** The caches and event buffers of the agent's maps (maps cell). */
export const MapCaches = token<MapCacheRegistry>('maps/MapCaches');

/** Cilium's desired action for an object in reconcile status `s`, with the error if any. */
export function desiredAction(s: Status): { desiredAction: DesiredAction; lastError?: string } {
  switch (s.kind) {
    case 'done':
      return { desiredAction: 'ok' };
    case 'pending':
      return { desiredAction: 'insert' };
    case 'error':
      return { desiredAction: 'insert', lastError: s.error ?? 'failed' };
  }
}

/** How one reconciled table becomes a map's cache. */
export interface ReconciledCacheParams<T, K, V> {
  readonly caches: MapCacheRegistry;
  /** The map; its layouts render keys and values. */
  readonly spec: MapSpec<K, V>;
  /** Every desired object now. */
  readonly objects: () => Iterable<T>;
  readonly status: (obj: T) => Status;
  /** The object's primary key. */
  readonly id: (obj: T) => string;
  /** The map entries an object wants. */
  readonly entries: (obj: T) => readonly (readonly [K, V])[];
}

/**
 * Registers a reconciled table as the cache of a map and returns the reconciler's `observe`
 * hook, which records each write and delete in the map's event buffer. An object's reconcile
 * status applies to every entry it wants. Objects whose delete failed stay in the cache with
 * desired action `delete` until a delete succeeds or the object is desired again.
 */
export function reconciledCache<T, K, V>(
  p: ReconciledCacheParams<T, K, V>,
): (e: ReconcileEvent<T>) => void {
  const keyOf = (k: K): string => p.spec.key.format(k);
  const valueLayout = p.spec.value(1);
  const valueOf = (v: V): string => valueLayout.format(v);
  const deleting = new Map<string, { obj: T; error: string }>();
  const handle = p.caches.register(p.spec.name, {
    *entries() {
      const desired = new Set<string>();
      for (const obj of p.objects()) {
        desired.add(p.id(obj));
        const action = desiredAction(p.status(obj));
        for (const [k, v] of p.entries(obj)) yield { key: keyOf(k), value: valueOf(v), ...action };
      }
      for (const [id, d] of deleting) {
        if (desired.has(id)) continue;
        for (const [k, v] of p.entries(d.obj)) {
          yield { key: keyOf(k), value: valueOf(v), desiredAction: 'delete', lastError: d.error };
        }
      }
    },
  });
  return (e) => {
    // A prune took away whatever deletes had failed to.
    if (e.action === 'prune') {
      deleting.clear();
      return;
    }
    const id = p.id(e.object);
    if (e.action === 'delete' && e.error !== undefined) {
      deleting.set(id, { obj: e.object, error: e.error });
    } else deleting.delete(id);
    const ok = e.error === undefined;
    const desired: DesiredAction = e.action === 'delete' ? 'delete' : ok ? 'ok' : 'insert';
    for (const [k, v] of p.entries(e.object)) {
      handle.record({
        action: e.action,
        key: keyOf(k),
        value: valueOf(v),
        desiredAction: desired,
        ...(ok ? {} : { lastError: e.error }),
      });
    }
  };
}
