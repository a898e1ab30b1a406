// Cluster-wide identities as CiliumIdentity objects (Cilium's "crd" identity allocation mode:
// Kubernetes without a kvstore). The reflected ciliumidentities table is the cache; a new label
// set gets a new object whose name is a free id. No locks: racing agents meet on the same name.
import { createHash } from 'node:crypto';
import type { Observable, Subscription } from 'rxjs';
import {
  errorMessage,
  formatDuration,
  sleep,
  type Health,
  type Logger,
} from '../../core/hive/index.js';
import type { Change } from '../../core/statedb/index.js';
import {
  apiStatus,
  K8sAccessError,
  K8sDisabledError,
  type CiliumIdentityObject,
  type K8sResource,
} from '../k8s/index.js';
import {
  identity,
  IdentityError,
  IdentityUnavailableError,
  type Identity,
  type IdentityAllocator,
  type IdentityChange,
} from './allocator.js';
import { ClusterView, Conflicts } from './cluster-view.js';
import {
  canonicalLabels,
  identityObject,
  parseIdentityObject,
  type ParsedIdentity,
} from './crd-labels.js';
import { labelString } from './kvstore-keys.js';
import { LabelQueues, retryDelay, untilAborted } from './kvstore-queue.js';
import { labelsKey, MAX_IDENTITY, MIN_IDENTITY, normalizeLabels } from './labels.js';

/** The API calls the allocator makes (the real ones through client-node: `crd-store.ts`). */
export interface CiliumIdentityStore {
  /** Creates the object: true, or false when its name is taken (409 AlreadyExists). */
  create(obj: CiliumIdentityObject, signal: AbortSignal): Promise<boolean>;
  /** The object of that name as the API server has it now, or undefined (404). */
  get(name: string, signal: AbortSignal): Promise<unknown>;
}

/** What the CRD allocator needs. */
export interface CrdAllocatorParams {
  /** The reflected CiliumIdentity objects (every node's). */
  readonly resource: K8sResource<CiliumIdentityObject>;
  readonly store: CiliumIdentityStore;
  readonly logger: Logger;
  /** Invalid objects and restored ids the cluster disagrees with are reported here. */
  readonly health: Health;
  /** How long a label set the cluster does not know yet waits for the API server. */
  readonly timeoutMs: number;
  readonly range?: { readonly min: number; readonly max: number };
  /** Where the search for a free id starts for a label set (default: a hash of the labels). */
  readonly startOf?: (key: string) => number;
}

/** How many invalid objects health names (the rest are counted). */
const NAMED = 5;

/** Whether an API error may go away by itself (the server away, overloaded or failing). */
function transient(e: unknown): boolean {
  // Kubernetes mode off, a missing access rule: wiring mistakes that no retry mends.
  if (e instanceof K8sAccessError || e instanceof K8sDisabledError || e instanceof IdentityError)
    return false;
  const code = apiStatus(e);
  return code === undefined || code === 429 || code >= 500;
}

/** A uniformly spread start, the same on every agent for the same labels. */
function hashStart(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0);
}

/**
 * Identities in CiliumIdentity objects, as Cilium's CRD backend: the name is the id,
 * `security-labels` the labels. Known labels take their id from the reflected table at once
 * (the lowest id when several objects hold them); new ones, once the table is synced, create an
 * object at the first free id from a start derived from the labels, so agents allocating the
 * same new labels at once try the same name and the API server's AlreadyExists makes one of
 * them the winner (the loser reads the object and uses it). References are local: releasing
 * deletes nothing (Cilium's operator collects identities no CiliumEndpoint uses).
 */
export class CrdIdentityAllocator implements IdentityAllocator {
  readonly range: { readonly min: number; readonly max: number };
  private readonly view = new ClusterView();
  /** Cached ids per label key (several when objects duplicate a label set). */
  private readonly idsByKey = new Map<string, Set<number>>();
  /** Objects refused, by name, with the reason. */
  private readonly skipped = new Map<string, string>();
  private readonly work: LabelQueues;
  private readonly conflicts: Conflicts;
  private readonly stopped = new AbortController();
  private readonly startOf: (key: string) => number;
  private sub: Subscription | undefined;
  /** The last transient API error of each label set being allocated (for the timeout message). */
  private readonly lastError = new Map<string, string>();

  constructor(private readonly p: CrdAllocatorParams) {
    this.range = p.range ?? { min: MIN_IDENTITY, max: MAX_IDENTITY };
    this.startOf = p.startOf ?? hashStart;
    this.work = new LabelQueues({
      logger: p.logger,
      signal: this.stopped.signal,
      store: 'API server',
    });
    this.conflicts = new Conflicts({ logger: p.logger, report: () => this.report() });
  }

  get changes$(): Observable<IdentityChange> {
    return this.view.changes$;
  }

  /** Follows the reflected table (the k8s cell lists and watches in the background). */
  start(): void {
    this.sub = this.p.resource.table.observe().subscribe((batch) => this.apply(batch));
    this.report();
    this.p.resource.waitSynced(this.stopped.signal).then(
      () => this.report(),
      () => undefined,
    );
  }

  /** Stops following the table and every background re-take. */
  stop(): void {
    this.stopped.abort(new Error('the identity allocator stopped'));
    this.sub?.unsubscribe();
  }

  async allocate(labels: readonly string[], signal?: AbortSignal): Promise<Identity> {
    const norm = canonicalLabels(normalizeLabels(labels));
    if (norm.length === 0) throw new IdentityError('an identity needs at least one label');
    const reserved = this.view.reservedOf(norm);
    if (reserved) return reserved;
    const key = labelsKey(norm);
    const now = this.view.retain(key) ?? this.takeKnown(key, norm);
    if (now) return now;
    const timeout = AbortSignal.timeout(this.p.timeoutMs);
    const sig = AbortSignal.any([timeout, this.stopped.signal, ...(signal ? [signal] : [])]);
    const what = `no identity for ${labelString(norm)}`;
    try {
      return await untilAborted(
        this.work.serial(key, () => this.retrying(key, sig, () => this.take(key, norm, sig))),
        sig,
        (late) => this.release(late),
      );
    } catch (e) {
      if (e instanceof IdentityError) throw e;
      if (signal?.aborted) throw new IdentityUnavailableError(`${what}: cancelled by the caller`);
      if (timeout.aborted) {
        const listed = this.p.resource.synced() ? '' : ' (CiliumIdentity objects not listed yet)';
        const last = this.lastError.get(key);
        this.lastError.delete(key);
        throw new IdentityUnavailableError(
          `${what}: the Kubernetes API server did not answer within ${formatDuration(this.p.timeoutMs)}${listed}${last !== undefined ? `: ${last}` : ''}`,
        );
      }
      if (sig.aborted) throw new IdentityUnavailableError(`${what}: the allocator stopped`);
      throw new IdentityUnavailableError(
        `${what}: creating a CiliumIdentity failed: ${errorMessage(e)}`,
      );
    }
  }

  restore(labels: readonly string[], id: number): Identity {
    const norm = canonicalLabels(normalizeLabels(labels));
    if (norm.length === 0) throw new IdentityError('an identity needs at least one label');
    const reserved = this.view.reservedOf(norm);
    if (reserved) return reserved;
    const key = labelsKey(norm);
    const held = this.view.retain(key);
    if (held) return held;
    // The saved id is kept (no re-allocation after a restart); the cluster is asked later.
    const usable =
      Number.isSafeInteger(id) &&
      id >= this.range.min &&
      id <= this.range.max &&
      !this.view.localById.has(id);
    const known = this.preferred(key);
    const chosen = usable
      ? id
      : known !== undefined && !this.view.localById.has(known)
        ? known
        : this.freeId(key);
    const ident = this.view.hold(key, norm, chosen);
    this.retake(key);
    return ident;
  }

  release(ident: Identity): boolean {
    const held = this.view.drop(ident);
    if (!held) return false;
    this.conflicts.delete(labelString(held.ident.labels));
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

  // --- API server work ----------------------------------------------------------------------

  /** Runs `fn` again after transient API errors (the server away or failing) until `sig` aborts. */
  private async retrying<T>(key: string, sig: AbortSignal, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const v = await fn();
        this.lastError.delete(key);
        return v;
      } catch (e) {
        if (!transient(e) || sig.aborted) throw e;
        this.lastError.set(key, errorMessage(e));
        if (attempt === 0) {
          this.p.logger.warn({ labels: key, err: errorMessage(e) }, 'CiliumIdentity: retrying');
        }
        await sleep(retryDelay(attempt), sig);
      }
    }
  }

  /** Takes a reference: the id the (synced) table knows for the labels, or a new object. */
  private async take(key: string, norm: readonly string[], sig: AbortSignal): Promise<Identity> {
    sig.throwIfAborted();
    const now = this.view.retain(key) ?? this.takeKnown(key, norm);
    if (now) return now;
    // Every identity must be in the table before a free id is picked.
    await this.p.resource.waitSynced(sig);
    const known = this.view.retain(key) ?? this.takeKnown(key, norm);
    if (known) return known;
    const id = await this.createNew(key, norm, sig);
    return this.view.retain(key) ?? this.view.hold(key, norm, id);
  }

  /**
   * Creates the object of a free id: from the labels' start, the next id when taken. A name
   * taken meanwhile (409) is read back: the same labels (another agent won the race) are used.
   */
  private async createNew(key: string, norm: readonly string[], sig: AbortSignal): Promise<number> {
    const { min, max } = this.range;
    const span = max - min + 1;
    let id = min + (this.startOf(key) % span);
    let gone = 0;
    for (let tried = 0; tried < span;) {
      if (!this.view.taken(id)) {
        if (await this.p.store.create(identityObject(id, norm), sig)) {
          this.p.logger.info({ identity: id, labels: labelString(norm) }, 'CiliumIdentity created');
          return id;
        }
        const now = await this.p.store.get(String(id), sig);
        // Deleted between the create and the read: try the same name again (a few times).
        if (now === undefined && gone++ < 3) continue;
        const parsed = now === undefined ? undefined : parseIdentityObject(now, this.range);
        if (typeof parsed === 'object' && labelsKey(parsed.labels) === key) return id;
      }
      gone = 0;
      tried++;
      id = id === max ? min : id + 1;
    }
    throw new IdentityError(`identities ${min}-${max} are all in use in the cluster`);
  }

  /**
   * Re-takes a held identity in the cluster (after restore, or when its object went or changed):
   * its object must hold its labels (created again if it went, as Cilium's UpdateKey does). A
   * disagreement is logged and makes the allocator degraded, naming the labels.
   */
  private retake(key: string): void {
    this.work.background(key, 're-take', async (sig) => {
      const held = this.view.local.get(key);
      if (!held) return;
      const { id, labels } = held.ident;
      const name = labelString(labels);
      await this.p.resource.waitSynced(sig);
      let other = this.view.cache.get(id);
      if (!other && !(await this.p.store.create(identityObject(id, labels), sig))) {
        const now = await this.p.store.get(String(id), sig);
        if (now === undefined)
          throw new Error(`CiliumIdentity ${id} is neither there nor creatable`);
        const parsed = parseIdentityObject(now, this.range);
        other =
          typeof parsed === 'string'
            ? identity(id, [`invalid: ${parsed}`])
            : identity(id, parsed.labels);
      }
      if (this.view.local.get(key) !== held) return; // released meanwhile
      const same = !other || labelsKey(other.labels) === key;
      const why = same
        ? undefined
        : `identity ${id} holds other labels in the cluster (${labelString(other?.labels ?? [])})`;
      this.conflicts.set(name, id, why);
    });
  }

  // --- the reflected table ------------------------------------------------------------------

  /** Changes of the reflected table: valid objects cached, invalid ones skipped and named. */
  private apply(batch: readonly Change<CiliumIdentityObject>[]): void {
    for (const c of batch) {
      const name = c.object.metadata.name;
      if (c.deleted) {
        if (this.skipped.delete(name)) continue;
        if (/^[1-9]\d{0,9}$/.test(name)) this.uncached(Number(name));
        continue;
      }
      const parsed = parseIdentityObject(c.object, this.range);
      if (typeof parsed === 'string') {
        this.p.logger.warn({ name, reason: parsed }, 'CiliumIdentity skipped');
        this.skipped.set(name, parsed);
        // An object that turned invalid no longer says anything about its id.
        if (/^[1-9]\d{0,9}$/.test(name)) this.uncached(Number(name));
        continue;
      }
      this.skipped.delete(name);
      this.cached(parsed);
    }
    this.report();
  }

  private cached({ id, labels }: ParsedIdentity): void {
    const key = labelsKey(labels);
    const had = this.view.cache.get(id);
    if (had && labelsKey(had.labels) === key) return;
    this.view.mutate(id, () => {
      if (had) this.unindex(labelsKey(had.labels), id);
      this.view.cache.set(id, identity(id, labels));
      const ids = this.idsByKey.get(key) ?? new Set<number>();
      ids.add(id);
      this.idsByKey.set(key, ids);
    });
    // An id this node holds for other labels: the re-take finds out and reports it.
    const held = this.view.localById.get(id);
    if (held && held.key !== key) this.retake(held.key);
  }

  /** An object gone: an identity this node still uses has it created again. */
  private uncached(id: number): void {
    const had = this.view.cache.get(id);
    if (!had) return;
    this.view.mutate(id, () => {
      this.view.cache.delete(id);
      this.unindex(labelsKey(had.labels), id);
    });
    const held = this.view.localById.get(id);
    if (held) this.retake(held.key);
  }

  private unindex(key: string, id: number): void {
    const ids = this.idsByKey.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.idsByKey.delete(key);
  }

  // --- local state --------------------------------------------------------------------------

  /** The id the cluster has for a label set: the lowest when several objects hold it. */
  private preferred(key: string): number | undefined {
    const ids = this.idsByKey.get(key);
    return ids && ids.size > 0 ? Math.min(...ids) : undefined;
  }

  /** A first local reference on the id the table knows for these labels. */
  private takeKnown(key: string, norm: readonly string[]): Identity | undefined {
    const id = this.preferred(key);
    if (id === undefined || this.view.localById.has(id)) return undefined;
    return this.view.hold(key, norm, id);
  }

  /** A free id for a restored label set whose saved id cannot be used (checked when re-taken). */
  private freeId(key: string): number {
    const { min, max } = this.range;
    const span = max - min + 1;
    let id = min + (this.startOf(key) % span);
    for (let tried = 0; tried < span; tried++, id = id === max ? min : id + 1) {
      if (!this.view.taken(id)) return id;
    }
    throw new IdentityError(`identities ${min}-${max} are all in use`);
  }

  private report(): void {
    const listed = this.p.resource.synced();
    const msg = listed
      ? `${this.view.cache.size} cluster identities (CiliumIdentity)`
      : 'listing CiliumIdentity objects';
    const problems: string[] = [];
    const conflict = this.conflicts.describe();
    if (conflict !== undefined) problems.push(conflict);
    if (this.skipped.size > 0) {
      const named = [...this.skipped].slice(0, NAMED).map(([k, r]) => `${k}: ${r}`);
      const more = this.skipped.size > NAMED ? ` and ${this.skipped.size - NAMED} more` : '';
      problems.push(
        `skipped ${this.skipped.size} invalid CiliumIdentity objects: ${named.join('; ')}${more}`,
      );
    }
    if (problems.length > 0) this.p.health.degraded(`${msg}; ${problems.join('; ')}`);
    else this.p.health.ok(msg);
  }
}
