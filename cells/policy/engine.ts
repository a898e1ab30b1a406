// The policy engine: the repository, the selector cache and the endpoints table turned into
// each endpoint's desired policy map (the endpoint-policy table, which the reconciler writes).
// Only what a change touches is recomputed: a rule change recomputes the identities its
// selector selects; an identity appearing or going away recomputes the identities selected by
// rules whose peers it changed. Policies are computed once per identity and shared by its
// endpoints; every endpoint's row carries the repository revision it is up to date with.
import { ApiError } from '../../core/api/index.js';
import { ifIndex } from '../../core/bpf/index.js';
import type { Logger } from '../../core/hive/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import { statusDone, statusPending } from '../../core/reconciler/index.js';
import type { Endpoint } from '../endpoint/index.js';
import type { IdentityAllocator, IdentityChange } from '../identity/index.js';
import { CidrIdentities } from './cidr-ids.js';
import { computePolicy, type EnforcementMode, type IdentityPolicy } from './mapstate.js';
import type { AddOptions, Repository, StoredRule } from './repository.js';
import type { Rule } from './rules.js';
import { SelectorCache } from './selectorcache.js';
import { policyKeyOf, type EndpointPolicy } from './table.js';

/** An endpoint as the engine last saw it. */
interface Seen {
  readonly identity: number;
  readonly ifindex: number;
  readonly ips: readonly string[];
}

/** What the engine needs. */
export interface EngineParams {
  readonly db: DB;
  readonly table: Table<EndpointPolicy>;
  readonly endpoints: Table<Endpoint>;
  readonly ids: IdentityAllocator;
  readonly repo: Repository;
  readonly cidrs: CidrIdentities;
  readonly mode: () => EnforcementMode;
  readonly allowLocalhost: boolean;
  /** Whether endpoints' interfaces are real (kernel backend): their index is looked up by name. */
  readonly kernel: boolean;
  /** Runs `fn` once the maps hold everything written so far (the reconciler settled). */
  readonly whenRealized?: (fn: () => void) => void;
  readonly logger?: Logger;
}

/** The policy engine. */
export class PolicyEngine {
  readonly cache = new SelectorCache();
  private readonly byIdentity = new Map<number, IdentityPolicy>();
  /** Endpoints' identities and interfaces as last seen. */
  private readonly seen = new Map<number, Seen>();
  /** Identity changes not applied yet (applied before anything is computed). */
  private readonly queued: IdentityChange[] = [];

  constructor(private readonly p: EngineParams) {}

  /** Loads identities and the rules' selectors into the cache (before the first compute). */
  init(): void {
    for (const ident of this.p.ids.list()) {
      this.cache.upsertIdentity({ id: ident.id, labels: ident.labels });
    }
    for (const c of this.p.cidrs.all()) this.cache.upsertIdentity(c);
    for (const r of this.p.repo.rules()) this.addSelectors(r);
  }

  /** Queues an identity change (as the allocator emits it); applied before the next computation. */
  enqueue(c: IdentityChange): void {
    this.queued.push(c);
  }

  /** Applies queued identity changes: selectors updated, identities they matter to recomputed. */
  flushIdentities(): void {
    for (const c of this.queued.splice(0)) this.onIdentity(c);
  }

  /** Imports rules: durable, then applied; the new revision. */
  add(
    rules: readonly Rule[],
    opts: AddOptions,
  ): { revision: number; added: readonly StoredRule[] } {
    this.flushIdentities();
    const prefixes = rules.flatMap(rulePrefixes);
    const fresh = this.p.cidrs.reserve(prefixes);
    let change;
    try {
      change = this.p.repo.add(rules, opts);
    } catch (e) {
      this.p.cidrs.unreserve(fresh);
      throw e;
    }
    this.applyChange(change.added, change.removed);
    return { revision: change.revision, added: change.added };
  }

  /**
   * Replaces the rules of each resource in `changes` (Kubernetes objects; none: removed) in one
   * repository change; the new revision.
   */
  replaceResources(changes: ReadonlyMap<string, readonly Rule[]>): number {
    this.flushIdentities();
    const fresh = this.p.cidrs.reserve([...changes.values()].flat().flatMap(rulePrefixes));
    let change;
    try {
      change = this.p.repo.replaceResources(changes);
    } catch (e) {
      this.p.cidrs.unreserve(fresh);
      throw e;
    }
    this.applyChange(change.added, change.removed);
    return change.revision;
  }

  /** Deletes the rules carrying `labels` (all for none); the new revision and how many. */
  delete(labels: readonly string[]): { revision: number; deleted: number } {
    this.flushIdentities();
    const change = this.p.repo.delete(labels);
    this.applyChange([], change.removed);
    return { revision: change.revision, deleted: change.removed.length };
  }

  private onIdentity(c: IdentityChange): void {
    const changed =
      c.kind === 'upsert'
        ? this.cache.upsertIdentity({ id: c.identity.id, labels: c.identity.labels })
        : this.cache.deleteIdentity(c.identity.id);
    // An id released may come back with other labels: its policy is computed afresh either way.
    this.byIdentity.delete(c.identity.id);
    if (changed.length > 0) this.recomputeUsers(new Set(changed));
  }

  /** Endpoints changed (created, deleted, new identity or interface): their rows follow. */
  syncEndpoints(): void {
    this.flushIdentities();
    const txn = this.p.db.readTxn();
    const eps = this.p.endpoints.all(txn);
    const live = new Set<number>();
    const dirty: Endpoint[] = [];
    for (const ep of eps) {
      live.add(ep.id);
      const ifindex = this.ifindexOf(ep);
      const ips = [ep.ipv4, ep.ipv6].filter((ip) => ip !== '');
      const was = this.seen.get(ep.id);
      if (was?.identity === ep.identity && was.ifindex === ifindex && sameIps(was.ips, ips)) {
        continue;
      }
      this.seen.set(ep.id, { identity: ep.identity, ifindex, ips });
      dirty.push(ep);
    }
    const gone = [...this.seen.keys()].filter((id) => !live.has(id));
    for (const id of gone) this.seen.delete(id);
    if (dirty.length === 0 && gone.length === 0) return;
    this.p.db.update([this.p.table], (w) => {
      for (const id of gone) w.deleteKey(this.p.table, policyKeyOf(id));
      for (const ep of dirty) {
        const seen = this.seen.get(ep.id);
        if (!seen) continue;
        const pol = this.policyOf(ep.identity);
        const old = this.p.table.get(w, policyKeyOf(ep.id));
        w.insert(this.p.table, this.row(ep.id, seen, pol, old));
      }
    });
  }

  /** Recomputes everything (the enforcement mode changed). */
  recomputeAll(): void {
    this.flushIdentities();
    this.byIdentity.clear();
    this.rewrite(() => true);
  }

  /** The identity's policy now (computed if not cached). */
  policyOf(identity: number): IdentityPolicy {
    let pol = this.byIdentity.get(identity);
    if (!pol) {
      pol = computePolicy({
        labels: this.p.ids.get(identity)?.labels ?? [],
        rules: this.p.repo.rules().map((r) => r.compiled),
        cache: this.cache,
        mode: this.p.mode(),
        allowLocalhost: this.p.allowLocalhost,
      });
      this.byIdentity.set(identity, pol);
    }
    return pol;
  }

  private ifindexOf(ep: Endpoint): number {
    if (ep.ifIndex !== 0) return ep.ifIndex;
    return this.p.kernel && ep.ifName !== '' ? ifIndex(ep.ifName) : 0;
  }

  private row(
    id: number,
    seen: Seen,
    pol: IdentityPolicy,
    old: EndpointPolicy | undefined,
  ): EndpointPolicy {
    const revision = this.p.repo.revision;
    const same =
      old?.entries === pol.entries && old.ifindex === seen.ifindex && old.status.kind === 'done';
    return {
      id,
      ifindex: seen.ifindex,
      identity: seen.identity,
      ips: seen.ips,
      revision,
      entries: pol.entries,
      ingress: pol.ingress,
      egress: pol.egress,
      rules: pol.rules,
      // Nothing to write: already realized at this revision.
      realizedRevision: same ? revision : (old?.realizedRevision ?? 0),
      status: same ? statusDone() : statusPending(),
    };
  }

  private addSelectors(r: StoredRule): void {
    for (const s of r.compiled.selectors) this.cache.addUser(s);
  }

  private applyChange(added: readonly StoredRule[], removed: readonly StoredRule[]): void {
    for (const r of added) this.addSelectors(r);
    for (const r of removed) for (const s of r.compiled.selectors) this.cache.removeUser(s.key);
    // CIDR identities no rule names any more go (from the cache and the ipcache).
    const gone = this.p.cidrs.retain(
      this.p.repo.rules().flatMap((r) => rulePrefixes(r.compiled.rule)),
    );
    // A CIDR identity added or gone changes what other rules' CIDR selectors select too.
    const changed = new Set<string>();
    for (const id of gone) for (const k of this.cache.deleteIdentity(id)) changed.add(k);
    const fresh = this.p.cidrs.takeNew();
    for (const c of fresh) for (const k of this.cache.upsertIdentity(c)) changed.add(k);
    const touched = [
      ...[...added, ...removed].map((r) => r.compiled.rule),
      ...this.usersOf(changed),
    ];
    // The identities a changed rule selects get a new policy; the others only the new revision.
    this.rewrite((labels) => touched.some((r) => r.endpointSelector?.matches(labels) === true));
    if (gone.length > 0) this.saveIdentities();
    // New CIDR identities reach the ipcache only once every map that must tell them apart has them.
    const prefixes = fresh.flatMap((c) => (c.cidr === undefined ? [] : [c.cidr]));
    if (prefixes.length > 0) {
      (this.p.whenRealized ?? ((fn) => fn()))(() => {
        this.p.cidrs.publish(prefixes);
      });
    }
  }

  /** Keeps the release of CIDR identities on disk (their prefixes do not come back at restart). */
  private saveIdentities(): void {
    try {
      this.p.repo.saveIdentities(this.p.repo.cidrIdentities);
    } catch (e) {
      this.p.logger?.warn(
        { error: e instanceof Error ? e.message : String(e) },
        'released CIDR identities not saved: they are kept until the next policy change',
      );
    }
  }

  /** The rules whose peers use one of `selectors`. */
  private usersOf(selectors: ReadonlySet<string>): Rule[] {
    if (selectors.size === 0) return [];
    return this.p.repo
      .rules()
      .filter((r) => r.compiled.selectors.some((s) => selectors.has(s.key)))
      .map((r) => r.compiled.rule);
  }

  /** Recomputes identities selected by rules whose peers use one of `selectors`. */
  private recomputeUsers(selectors: ReadonlySet<string>): void {
    const rules = this.usersOf(selectors);
    if (rules.length === 0) return;
    this.rewrite((labels) => rules.some((r) => r.endpointSelector?.matches(labels) === true));
  }

  /** Rewrites every endpoint's row at the current revision, recomputing identities `affected`. */
  private rewrite(affected: (labels: readonly string[]) => boolean): void {
    const identities = new Set([...this.seen.values()].map((s) => s.identity));
    for (const id of identities) {
      if (affected(this.p.ids.get(id)?.labels ?? [])) this.byIdentity.delete(id);
    }
    this.p.db.update([this.p.table], (w) => {
      for (const [id, seen] of this.seen) {
        const old = this.p.table.get(w, policyKeyOf(id));
        const pol = this.policyOf(seen.identity);
        // Unchanged: its map is already right (realizedRevision() says so, at the new revision).
        if (old?.entries === pol.entries && old.ifindex === seen.ifindex && old.ips === seen.ips) {
          continue;
        }
        w.insert(this.p.table, this.row(id, seen, pol, old));
      }
    });
  }

  /**
   * The revision an endpoint's map is up to date with: the repository's, when the row holds the
   * entries its identity has now and they are written; else the last revision it reached.
   */
  realizedRevision(row: EndpointPolicy): number {
    const current = this.byIdentity.get(row.identity)?.entries === row.entries;
    return row.status.kind === 'done' && current ? this.p.repo.revision : row.realizedRevision;
  }

  /** The revision an endpoint's row is being brought to. */
  specRevision(row: EndpointPolicy): number {
    return this.byIdentity.get(row.identity)?.entries === row.entries
      ? this.p.repo.revision
      : row.revision;
  }
}

function sameIps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((ip, i) => ip === b[i]);
}

/** Every prefix a rule's CIDR peers name (their CIDRs and exceptions). */
export function rulePrefixes(rule: Rule): string[] {
  const out: string[] = [];
  for (const list of [rule.ingress, rule.ingressDeny, rule.egress, rule.egressDeny]) {
    for (const pr of list) for (const c of pr.cidrs) out.push(c.cidr, ...c.except);
  }
  return out;
}

/** Turns a repository error into the API's answer. */
export function repoError(e: unknown): ApiError {
  const why = e instanceof Error ? e.message : String(e);
  return new ApiError(500, `the policy could not be saved, nothing changed: ${why}`);
}
