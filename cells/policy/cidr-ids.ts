// Local CIDR identities (Cilium's, from 1<<24 up): one per prefix the rules name (CIDRs and
// their exceptions), labelled `cidr:<prefix>` and `reserved:world`, published in the ipcache so
// bpf_lxc tells those addresses from the rest of the world. They are kept with the rules
// (rules.json), so a prefix keeps its identity across restarts and the maps never change meaning
// under the datapath. A prefix an endpoint (or another source) already publishes keeps its
// entry: the workload's identity wins.
import type { DB, Table } from '../../core/statedb/index.js';
import type { IpcacheEntry, IpcacheWriter } from '../ipcache/index.js';
import type { Repository } from './repository.js';
import type { IdentityInfo } from './selectorcache.js';

/** The first local identity (Cilium's LocalIdentityFlag). */
export const LOCAL_IDENTITY_MIN = 1 << 24;
const LOCAL_IDENTITY_MAX = 2 ** 32 - 1;

/** The identity a selector sees for a CIDR identity. */
export function cidrIdentityInfo(prefix: string, id: number): IdentityInfo {
  return { id, labels: [`cidr:${prefix}`, 'reserved:world'], cidr: prefix };
}

/** Allocates, publishes and releases CIDR identities. */
export class CidrIdentities {
  private fresh: string[] = [];

  constructor(
    private readonly p: {
      readonly repo: Repository;
      readonly db: DB;
      readonly ipcache: IpcacheWriter;
      readonly ipcacheTable: Table<IpcacheEntry>;
    },
  ) {}

  /** Every CIDR identity (for the selector cache at start). */
  all(): IdentityInfo[] {
    return Object.entries(this.p.repo.cidrIdentities).map(([p, id]) => cidrIdentityInfo(p, id));
  }

  /** Publishes every identity in the ipcache (at start). */
  publishAll(): void {
    this.publish(Object.keys(this.p.repo.cidrIdentities));
  }

  /** Gives each new prefix an identity (in memory until the repository saves); the new ones. */
  reserve(prefixes: readonly string[]): string[] {
    const have = this.p.repo.cidrIdentities;
    const used = new Set(Object.values(have));
    const next = { ...have };
    const fresh: string[] = [];
    let id = LOCAL_IDENTITY_MIN;
    for (const prefix of new Set(prefixes)) {
      // /0 is the world identity itself (what the ipcache answers for an address it lacks).
      if (next[prefix] !== undefined || prefix.endsWith('/0')) continue;
      while (used.has(id)) id++;
      if (id > LOCAL_IDENTITY_MAX) throw new Error('local CIDR identities are exhausted');
      next[prefix] = id;
      used.add(id);
      fresh.push(prefix);
    }
    this.p.repo.cidrIdentities = next;
    this.fresh.push(...fresh);
    return fresh;
  }

  /** Takes back a reservation the repository could not save. */
  unreserve(prefixes: readonly string[]): void {
    const drop = new Set(prefixes);
    this.p.repo.cidrIdentities = Object.fromEntries(
      Object.entries(this.p.repo.cidrIdentities).filter(([p]) => !drop.has(p)),
    );
    this.fresh = this.fresh.filter((p) => !prefixes.includes(p));
  }

  /**
   * The identities reserved since the last call, for the selector cache. They are published in
   * the ipcache later (publish()), once the policy maps that must tell them apart have them:
   * an address must not resolve to an identity a peer's map does not know yet.
   */
  takeNew(): IdentityInfo[] {
    const fresh = this.fresh;
    this.fresh = [];
    return fresh.flatMap((p) => {
      const id = this.p.repo.cidrIdentities[p];
      return id === undefined ? [] : [cidrIdentityInfo(p, id)];
    });
  }

  /** Releases the identities of prefixes no rule names; their ids. */
  retain(inUse: readonly string[]): number[] {
    const keep = new Set(inUse);
    const next: Record<string, number> = {};
    const gone: number[] = [];
    const unpublish: string[] = [];
    for (const [prefix, id] of Object.entries(this.p.repo.cidrIdentities)) {
      if (keep.has(prefix) || this.fresh.includes(prefix)) next[prefix] = id;
      else {
        gone.push(id);
        unpublish.push(prefix);
      }
    }
    if (gone.length === 0) return [];
    this.p.repo.cidrIdentities = next;
    const txn = this.p.db.readTxn();
    for (const prefix of unpublish) {
      if (this.p.ipcacheTable.get(txn, prefix)?.source === 'generated')
        this.p.ipcache.delete(prefix);
    }
    return gone;
  }

  /** Publishes prefixes' identities in the ipcache (those still reserved). */
  publish(prefixes: readonly string[]): void {
    const txn = this.p.db.readTxn();
    const rows = prefixes.flatMap((prefix) => {
      const id = this.p.repo.cidrIdentities[prefix];
      const have = this.p.ipcacheTable.get(txn, prefix);
      if (id === undefined || (have && have.source !== 'generated')) return [];
      return [{ prefix, identity: id, source: 'generated' as const }];
    });
    if (rows.length > 0) this.p.ipcache.upsertAll(rows);
  }
}
