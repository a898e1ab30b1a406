// What a cluster-wide allocator knows, whatever its store (etcd or CiliumIdentity objects): the
// cluster's identities (as its watch saw them), the label sets this node holds (with their
// local references), and one stream of changes over both.
import { Subject, type Observable } from 'rxjs';
import type { Logger } from '../../core/hive/index.js';
import { identity, reservedIdentities, type Identity, type IdentityChange } from './allocator.js';
import { labelsKey } from './labels.js';

/** A label set this node uses, and how many of its users hold it. */
export interface Held {
  /** The store's key of the label set (a label string, or the labels' JSON). */
  readonly key: string;
  readonly ident: Identity;
  refs: number;
}

/**
 * The identities a cluster-wide allocator serves: reserved ones, the cluster's (cached from the
 * store's watch) and this node's held ones. get/list/refCount/changes$ of IdentityAllocator.
 */
export class ClusterView {
  readonly reserved = reservedIdentities();
  readonly reservedById = new Map([...this.reserved.values()].map((i) => [i.id, i]));
  /** Every cluster identity the watch has seen, by id. */
  readonly cache = new Map<number, Identity>();
  /** Label sets this node uses, by key and by id. */
  readonly local = new Map<string, Held>();
  readonly localById = new Map<number, Held>();
  private readonly changes = new Subject<IdentityChange>();

  get changes$(): Observable<IdentityChange> {
    return this.changes.asObservable();
  }

  /** The reserved identity of normalized labels, if they are one. */
  reservedOf(norm: readonly string[]): Identity | undefined {
    return this.reserved.get(labelsKey(norm));
  }

  get(id: number): Identity | undefined {
    return this.reservedById.get(id) ?? this.localById.get(id)?.ident ?? this.cache.get(id);
  }

  list(): Identity[] {
    const ids = new Set([
      ...this.reservedById.keys(),
      ...this.cache.keys(),
      ...this.localById.keys(),
    ]);
    return [...ids]
      .sort((a, b) => a - b)
      .map((id) => this.get(id))
      .filter((i): i is Identity => i !== undefined);
  }

  refCount(id: number): number {
    return this.localById.get(id)?.refs ?? 0;
  }

  /** Whether an id is used: reserved, cached or held. */
  taken(id: number): boolean {
    return this.cache.has(id) || this.localById.has(id) || this.reservedById.has(id);
  }

  /** Another reference on a held label set, if held. */
  retain(key: string): Identity | undefined {
    const held = this.local.get(key);
    if (!held) return undefined;
    held.refs++;
    return held.ident;
  }

  /** A first local reference on `id` for these labels (the cached identity when it matches). */
  hold(key: string, norm: readonly string[], id: number): Identity {
    const cached = this.cache.get(id);
    const ident =
      cached && labelsKey(cached.labels) === labelsKey(norm) ? cached : identity(id, norm);
    const held: Held = { key, ident, refs: 1 };
    this.mutate(id, () => {
      this.local.set(key, held);
      this.localById.set(id, held);
    });
    return ident;
  }

  /** Drops a reference; the held entry when it was the last one. */
  drop(ident: Identity): Held | undefined {
    if (ident.reserved) return undefined;
    const held = this.localById.get(ident.id);
    if (!held || held.ident.labelsSHA256 !== ident.labelsSHA256) return undefined;
    if (--held.refs > 0) return undefined;
    this.mutate(ident.id, () => {
      this.local.delete(held.key);
      this.localById.delete(ident.id);
    });
    return held;
  }

  /** Applies a change and tells subscribers how the identity of `id` looks now. */
  mutate(id: number, fn: () => void): void {
    const before = this.get(id);
    fn();
    const after = this.get(id);
    if (before && !after) this.changes.next({ kind: 'delete', identity: before });
    else if (after && before?.labelsSHA256 !== after.labelsSHA256) {
      this.changes.next({ kind: 'upsert', identity: after });
    }
  }
}

/**
 * Label sets whose restored identity disagrees with the cluster: logged when found or cleared;
 * `report` is called on every change so the allocator can say it in health (`describe()`).
 */
export class Conflicts {
  private readonly byKey = new Map<string, string>();

  constructor(private readonly p: { readonly logger: Logger; readonly report: () => void }) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The conflicting label sets (by the name used in messages), with the reason. */
  entries(): ReadonlyMap<string, string> {
    return this.byKey;
  }

  delete(name: string): void {
    if (this.byKey.delete(name)) this.p.report();
  }

  /** Records (why) or clears (undefined) the conflict of a label set holding `id`. */
  set(name: string, id: number, why: string | undefined): void {
    const had = this.byKey.get(name);
    if (why === undefined) {
      if (had === undefined) return;
      this.byKey.delete(name);
      this.p.logger.info({ labels: name, identity: id }, 'identity agrees with the cluster again');
    } else {
      if (had === why) return;
      this.byKey.set(name, why);
      this.p.logger.error(
        { labels: name, identity: id },
        `identity ${id} of endpoints with labels ${name}: ${why}; they keep it until they are recreated`,
      );
    }
    this.p.report();
  }

  /** `endpoints with labels <first>: <why> (and N more)`, or undefined when there is none. */
  describe(): string | undefined {
    const first = [...this.byKey].at(0);
    if (!first) return undefined;
    const [l, w] = first;
    const more = this.byKey.size > 1 ? ` (and ${this.byKey.size - 1} more)` : '';
    return `endpoints with labels ${l}: ${w}${more}`;
  }
}
