import type { Observable, Subscription } from 'rxjs';
import { errorMessage, formatDuration, type Health, type Logger } from '../../core/hive/index.js';
import type { KVLock, KVStore, KVWatch } from '../kvstore/index.js';
import {
  identity,
  IdentityError,
  IdentityLabelsError,
  IdentityUnavailableError,
  type Identity,
  type IdentityAllocator,
  type IdentityChange,
} from './allocator.js';
import { ClusterView, Conflicts } from './cluster-view.js';
import { LabelQueues, untilAborted } from './kvstore-queue.js';
import {
  idKey,
  idOfKey,
  ID_PREFIX,
  labelsLock,
  labelString,
  parseId,
  parseLabelString,
  valueKey,
  valuePrefix,
} from './kvstore-keys.js';
import { MAX_IDENTITY, MIN_IDENTITY, normalizeLabels } from './labels.js';

/** What the kvstore allocator needs. */
export interface KvstoreAllocatorParams {
  readonly kv: KVStore;
  /** This node's name: the last segment of its slave keys (Cilium uses the node's IP). */
  readonly node: string;
  readonly logger: Logger;
  /** Where conflicts between restored identities and the cluster are reported. */
  readonly health: Health;
  /** How long a label set the cluster does not know yet waits for the kvstore. */
  readonly timeoutMs: number;
  readonly range?: { readonly min: number; readonly max: number };
  /** Random numbers in [0, 1): where the search for a free id starts. */
  readonly random?: () => number;
}

/**
 * Cluster-wide identities in the kvstore, as Cilium's kvstore allocator: a master key per id
 * (`id/<id>` → label string), a slave key per node using it (`value/<labels>/<node>` → id,
 * bound to the node's session), new ids created under a per-labels lock so agents allocating
 * the same labels at once agree on one. A watch on `id/` keeps every cluster identity in a
 * cache (get, list, changes$). References are counted locally; the slave key goes with the
 * last one. Restore is synchronous (the saved id is kept) and the slave keys are taken again
 * in the background.
 */
export class KvstoreIdentityAllocator implements IdentityAllocator {
  readonly range: { readonly min: number; readonly max: number };
  /** Cluster identities (the watch's), this node's held ones, and their changes. */
  private readonly view = new ClusterView();
  /** Label string → id of the cached cluster identities. */
  private readonly cacheByLs = new Map<string, number>();
  /** Ids upserted since the last (re)listing was complete: the others are gone after one. */
  private seen = new Set<number>();
  /** kvstore work per label string, one after the other (take, re-take, drop). */
  private readonly work: LabelQueues;
  /** Label strings whose restored id disagrees with the cluster, and why. */
  private readonly conflicts: Conflicts;
  private readonly stopped = new AbortController();
  private watch: KVWatch | undefined;
  private statusSub: Subscription | undefined;
  private readonly random: () => number;

  constructor(private readonly p: KvstoreAllocatorParams) {
    this.range = p.range ?? { min: MIN_IDENTITY, max: MAX_IDENTITY };
    this.random = p.random ?? Math.random;
    this.work = new LabelQueues({ logger: p.logger, signal: this.stopped.signal });
    this.conflicts = new Conflicts({ logger: p.logger, report: () => this.reportConflicts() });
    if (p.node === '' || p.node.includes('/')) {
      throw new IdentityError(`node name ${JSON.stringify(p.node)} cannot end a kvstore key`);
    }
  }

  get changes$(): Observable<IdentityChange> {
    return this.view.changes$;
  }

  /** Starts following the cluster's identities (the kvstore connects in the background). */
  start(): void {
    this.p.health.ok('waiting for the cluster identities (kvstore)');
    this.watch = this.p.kv.watch(ID_PREFIX, {
      onEvent: (e) => {
        const id = idOfKey(e.key);
        if (id === undefined) return;
        if (e.kind === 'upsert') this.cached(id, e.value ?? '');
        else this.uncached(id);
      },
      onSynced: () => this.synced(),
    });
    // Work that failed while etcd was away is retried as soon as it is back.
    this.statusSub = this.p.kv.status$.subscribe((s) => {
      if (s.state === 'Ok') this.work.wake();
    });
  }

  /** Stops the watch and every background re-take; the session's keys stay until it ends. */
  stop(): void {
    this.stopped.abort(new Error('the identity allocator stopped'));
    this.watch?.stop();
    this.statusSub?.unsubscribe();
  }

  /** Whether the first listing of the cluster's identities is in. */
  waitSynced(signal?: AbortSignal): Promise<void> {
    return this.watch ? this.watch.waitSynced(signal) : Promise.resolve();
  }

  async allocate(labels: readonly string[], signal?: AbortSignal): Promise<Identity> {
    const norm = normalizeLabels(labels);
    if (norm.length === 0) throw new IdentityError('an identity needs at least one label');
    const bad = norm.find((l) => l.includes(';'));
    if (bad) {
      throw new IdentityLabelsError(
        `${JSON.stringify(bad)}: a label cannot contain ';' with a kvstore (it separates labels in Cilium's label strings)`,
      );
    }
    const reserved = this.view.reservedOf(norm);
    if (reserved) return reserved;
    const ls = labelString(norm);
    const held = this.view.local.get(ls);
    if (held) {
      held.refs++;
      return held.ident;
    }
    // While the kvstore is away, labels the cluster already has an id for get it at once.
    if (this.p.kv.status().state !== 'Ok') {
      const known = this.takeKnown(ls, norm);
      if (known) return known;
    }
    const timeout = AbortSignal.timeout(this.p.timeoutMs);
    const sig = AbortSignal.any([timeout, this.stopped.signal, ...(signal ? [signal] : [])]);
    try {
      return await untilAborted(
        this.work.serial(ls, () => this.take(ls, norm, sig)),
        sig,
        (late) => this.release(late),
      );
    } catch (e) {
      if (e instanceof IdentityError) throw e;
      // A caller who gave up takes no reference (the interface's promise).
      if (signal?.aborted) {
        throw new IdentityUnavailableError(`no identity for ${ls}: cancelled by the caller`);
      }
      const known = this.takeKnown(ls, norm);
      if (known) return known;
      const what = `no identity for ${ls}`;
      if (timeout.aborted) {
        throw new IdentityUnavailableError(
          `${what}: the kvstore (etcd) did not answer within ${formatDuration(this.p.timeoutMs)}`,
        );
      }
      if (sig.aborted) {
        throw new IdentityUnavailableError(`${what}: cancelled while waiting for the kvstore`);
      }
      throw new IdentityUnavailableError(`${what}: the kvstore (etcd) failed: ${errorMessage(e)}`);
    }
  }

  restore(labels: readonly string[], id: number): Identity {
    const norm = normalizeLabels(labels);
    if (norm.length === 0 || norm.some((l) => l.includes(';'))) {
      throw new IdentityError(`labels ${JSON.stringify(norm)} cannot be an identity`);
    }
    const reserved = this.view.reservedOf(norm);
    if (reserved) return reserved;
    const ls = labelString(norm);
    const held = this.view.local.get(ls);
    if (held) {
      held.refs++;
      return held.ident;
    }
    // The saved id is kept (no re-allocation after a restart); the cluster is asked later.
    const usable =
      Number.isSafeInteger(id) &&
      id >= this.range.min &&
      id <= this.range.max &&
      !this.view.localById.has(id);
    const known = this.cacheByLs.get(ls);
    const chosen = usable
      ? id
      : known !== undefined && !this.view.localById.has(known)
        ? known
        : this.freeId();
    const ident = this.hold(ls, norm, chosen);
    this.retake(ls);
    return ident;
  }

  release(ident: Identity): boolean {
    const held = this.view.drop(ident);
    if (!held) return false;
    this.conflicts.delete(held.key);
    this.work.background(held.key, 'release', async (sig) => {
      if (this.view.local.get(held.key)?.ident.id === ident.id) return; // taken again meanwhile
      await this.p.kv.deleteIfValue(valueKey(held.key, this.p.node), String(ident.id), sig);
    });
    return true;
  }

  get(id: number): Identity | undefined {
    return this.view.get(id);
  }

  list(): Identity[] {
    return this.view.list();
  }

  refCount(id: number): number {
    return this.view.refCount(id);
  }

  /** Label strings whose restored identity disagrees with the cluster, with the reason. */
  conflicted(): ReadonlyMap<string, string> {
    return this.conflicts.entries();
  }

  // --- kvstore work -------------------------------------------------------------------------

  /** Takes a reference in the cluster under the labels' lock: their id, or a new one. */
  private async take(ls: string, norm: readonly string[], sig: AbortSignal): Promise<Identity> {
    sig.throwIfAborted();
    const again = this.view.local.get(ls);
    if (again) {
      again.refs++;
      return again.ident;
    }
    const id = await this.locked(ls, sig, async () => {
      const id = (await this.clusterId(ls, sig)) ?? (await this.createMaster(ls, sig));
      await this.p.kv.put(valueKey(ls, this.p.node), String(id), { lease: true, signal: sig });
      return id;
    });
    const raced = this.view.local.get(ls); // taken at once while the kvstore was away
    if (raced) {
      raced.refs++;
      if (raced.ident.id !== id) this.retake(ls);
      return raced.ident;
    }
    return this.hold(ls, norm, id);
  }

  /** The id the cluster has for a label string (re-creating its master key if it went). */
  private async clusterId(ls: string, sig: AbortSignal): Promise<number | undefined> {
    const slaves = await this.p.kv.list(valuePrefix(ls), sig);
    const ids = new Set([...slaves.values()].map(parseId).filter((i) => i !== undefined));
    const cached = this.cacheByLs.get(ls);
    if (cached !== undefined) ids.add(cached); // unused (no slave keys), not collected yet
    for (const id of ids) {
      const master = await this.p.kv.get(idKey(id), sig);
      if (master === ls) return id;
      if (master === undefined && slaves.size > 0) {
        if (await this.p.kv.create(idKey(id), ls, { signal: sig })) return id;
      }
    }
    return undefined;
  }

  /** Creates the master key of a free id: from a random start, the next one when taken. */
  private async createMaster(ls: string, sig: AbortSignal): Promise<number> {
    const { min, max } = this.range;
    const span = max - min + 1;
    let id = min + Math.floor(this.random() * span);
    for (let tried = 0; tried < span; tried++, id = id === max ? min : id + 1) {
      if (this.view.cache.has(id) || this.view.localById.has(id) || this.view.reservedById.has(id))
        continue;
      if (await this.p.kv.create(idKey(id), ls, { signal: sig })) return id;
    }
    throw new IdentityError(`identities ${min}-${max} are all in use in the cluster`);
  }

  /**
   * Re-takes a held identity in the cluster (after restore, or a take while the kvstore was
   * away): its master key must hold its labels (created again if it went), then this node's
   * slave key. A disagreement is logged and makes the cell degraded, naming the labels.
   */
  private retake(ls: string): void {
    this.work.background(ls, 're-take', async (sig) => {
      const held = this.view.local.get(ls);
      if (!held) return;
      const id = held.ident.id;
      await this.locked(ls, sig, async () => {
        let master = await this.p.kv.get(idKey(id), sig);
        if (master === undefined && (await this.p.kv.create(idKey(id), ls, { signal: sig }))) {
          master = ls;
        }
        master ??= await this.p.kv.get(idKey(id), sig);
        const slaves = await this.p.kv.list(valuePrefix(ls), sig);
        const others = [...slaves.values()].map(parseId).filter((o) => o !== undefined && o !== id);
        if (master === ls) {
          await this.p.kv.put(valueKey(ls, this.p.node), String(id), { lease: true, signal: sig });
        }
        const why =
          master !== ls
            ? `identity ${id} holds other labels in the cluster (${master ?? 'none'})`
            : others.length > 0
              ? `the cluster also has these labels as identity ${others.join(', ')}`
              : undefined;
        this.conflict(ls, id, why);
      });
    });
  }

  /** Runs `fn` holding the cluster-wide lock of a label string. */
  private async locked<T>(ls: string, sig: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const lock: KVLock = await this.p.kv.lock(labelsLock(ls), sig);
    try {
      return await fn();
    } finally {
      // Released in the background when given up: the session's end frees it anyway.
      const unlocked = lock.unlock().catch((e: unknown) => {
        this.p.logger.warn({ labels: ls, err: e }, 'identity: could not release a kvstore lock');
      });
      if (!sig.aborted) await unlocked;
    }
  }

  // --- local state --------------------------------------------------------------------------

  /** A first local reference on an id the cache knows for these labels, re-taken later. */
  private takeKnown(ls: string, norm: readonly string[]): Identity | undefined {
    const held = this.view.local.get(ls);
    if (held) {
      held.refs++;
      return held.ident;
    }
    const id = this.cacheByLs.get(ls);
    if (id === undefined || this.view.localById.has(id)) return undefined;
    const ident = this.hold(ls, norm, id);
    this.retake(ls);
    return ident;
  }

  private hold(ls: string, norm: readonly string[], id: number): Identity {
    return this.view.hold(ls, norm, id);
  }

  private conflict(ls: string, id: number, why: string | undefined): void {
    this.conflicts.set(ls, id, why);
  }

  private reportConflicts(): void {
    const problem = this.conflicts.describe();
    if (problem !== undefined) this.p.health.degraded(problem);
    else this.p.health.ok('identities agree with the cluster');
  }

  /** A master key seen by the watch. */
  private cached(id: number, ls: string): void {
    const labels = parseLabelString(ls);
    if (labels.length === 0) return;
    this.seen.add(id);
    const had = this.view.cache.get(id);
    if (had && labelString(had.labels) === ls) return;
    this.view.mutate(id, () => {
      if (had) this.cacheByLs.delete(labelString(had.labels));
      this.view.cache.set(id, identity(id, labels));
      this.cacheByLs.set(ls, id);
    });
    // An id this node uses for other labels: the re-take finds out and reports it.
    const held = this.view.localById.get(id);
    if (held && held.key !== ls) this.retake(held.key);
  }

  /** A master key gone: an identity this node still uses has it written again. */
  private uncached(id: number): void {
    const had = this.view.cache.get(id);
    if (!had) return;
    this.view.mutate(id, () => {
      this.view.cache.delete(id);
      const ls = labelString(had.labels);
      if (this.cacheByLs.get(ls) === id) this.cacheByLs.delete(ls);
    });
    const held = this.view.localById.get(id);
    if (held) this.retake(held.key);
  }

  /** A complete (re)listing: what it did not list is gone; what this node uses is re-taken. */
  private synced(): void {
    for (const id of [...this.view.cache.keys()]) if (!this.seen.has(id)) this.uncached(id);
    this.seen = new Set();
    for (const held of this.view.local.values()) {
      if (this.cacheByLs.get(held.key) !== held.ident.id) this.retake(held.key);
    }
    if (this.conflicts.size === 0) this.p.health.ok(`${this.view.cache.size} cluster identities`);
  }

  /** A free id for a restored label set whose saved id cannot be used (checked when re-taken). */
  private freeId(): number {
    const { min, max } = this.range;
    const span = max - min + 1;
    let id = min + Math.floor(this.random() * span);
    for (let tried = 0; tried < span; tried++, id = id === max ? min : id + 1) {
      if (!this.view.cache.has(id) && !this.view.localById.has(id)) return id;
    }
    throw new IdentityError(`identities ${min}-${max} are all in use`);
  }
}
