// The double's etcd: one global resourceVersion counter, the objects per resource, and the
// history of changes (events) kept until compacted, from which watches resume and consistent
// snapshots (paginated lists, lists at an exact resourceVersion) are rebuilt.
import type { JsonObject } from './patch.js';

/** What happened to an object. */
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change. `obj` carries the change's resourceVersion (a deletion's too). */
export interface StoreEvent {
  readonly rv: number;
  readonly type: EventType;
  /** The resource's qualified name (`pods`, `ciliumendpoints.cilium.io`). */
  readonly res: string;
  /** `namespace/name` or `name`. */
  readonly key: string;
  readonly obj: JsonObject;
  /** The object before the change (MODIFIED, DELETED). */
  readonly prev?: JsonObject;
}

/** The key of an object in its resource: `namespace/name`, or `name` when cluster-scoped. */
export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Objects, the revision counter and the change history. Stored objects are never mutated. */
export class Store {
  /** The current revision (the resourceVersion of the latest change). */
  rv: number;
  /** History before this revision is gone: resuming from an older resourceVersion is 410 Expired. */
  compacted = 0;
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private history: StoreEvent[] = [];
  private readonly subscribers = new Set<(e: StoreEvent) => void>();

  constructor(
    firstRv: number,
    private readonly historyLimit: number,
  ) {
    this.rv = firstRv;
  }

  private bucket(res: string): Map<string, JsonObject> {
    let b = this.objects.get(res);
    if (!b) {
      b = new Map();
      this.objects.set(res, b);
    }
    return b;
  }

  get(res: string, key: string): JsonObject | undefined {
    return this.objects.get(res)?.get(key);
  }

  /** The current objects of a resource, sorted by key (as etcd lists them). */
  current(res: string): [string, JsonObject][] {
    return [...(this.objects.get(res) ?? new Map<string, JsonObject>())].sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
  }

  /** The current objects of a resource, unsorted. */
  values(res: string): JsonObject[] {
    return [...(this.objects.get(res)?.values() ?? [])];
  }

  /** The objects of a resource as they were at revision `rv` (rv >= compacted), sorted by key. */
  at(res: string, rv: number): [string, JsonObject][] {
    if (rv >= this.rv) return this.current(res);
    const state = new Map(this.objects.get(res) ?? []);
    for (const e of [...this.history].reverse()) {
      if (e.rv <= rv) break;
      if (e.res !== res) continue;
      if (e.type === 'ADDED') state.delete(e.key);
      else if (e.prev) state.set(e.key, e.prev);
    }
    return [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The events of `res` after revision `rv` (rv >= compacted), oldest first. */
  since(res: string, rv: number): StoreEvent[] {
    return this.history.filter((e) => e.rv > rv && e.res === res);
  }

  /** Commits a change: bumps the revision, stamps it on the object, records and publishes it. */
  commit(
    type: EventType,
    res: string,
    key: string,
    obj: JsonObject,
    prev?: JsonObject,
  ): JsonObject {
    this.rv++;
    // Hostile injected objects may carry a metadata that is not an object: kept as it is.
    const m = obj.metadata;
    const stamped =
      m === undefined || (typeof m === 'object' && m !== null && !Array.isArray(m))
        ? { ...obj, metadata: { ...m, resourceVersion: String(this.rv) } }
        : obj;
    if (type === 'DELETED') this.bucket(res).delete(key);
    else this.bucket(res).set(key, stamped);
    const e: StoreEvent = { rv: this.rv, type, res, key, obj: stamped, ...(prev ? { prev } : {}) };
    this.history.push(e);
    const oldest = this.history[0];
    if (this.history.length > this.historyLimit && oldest) this.compact(oldest.rv);
    for (const s of [...this.subscribers]) s(e);
    return stamped;
  }

  /** Forgets history up to `rv` (default: all of it). */
  compact(rv = this.rv): void {
    this.compacted = Math.max(this.compacted, Math.min(rv, this.rv));
    this.history = this.history.filter((e) => e.rv > this.compacted);
  }

  /** Calls `fn` with every later change, synchronously as it commits; returns the unsubscribe. */
  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Drops every object of a resource without events (its watches are ended by the caller). */
  drop(res: string): void {
    this.objects.delete(res);
  }
}
