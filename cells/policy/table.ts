import type { Status } from '../../core/reconciler/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { MapEntry } from './mapstate.js';

/** An endpoint's desired policy map, and how far it got (reconciled into cellium_policy_<id>). */
export interface EndpointPolicy {
  readonly id: number;
  /** The endpoint's host-side interface (0: none, nothing to enforce on). */
  readonly ifindex: number;
  readonly identity: number;
  /** The endpoint's addresses (their conntrack entries go with it). */
  readonly ips: readonly string[];
  /** The repository revision these entries were computed at. */
  readonly revision: number;
  /** By entryKey; shared between endpoints of one identity (compare by reference). */
  readonly entries: ReadonlyMap<string, MapEntry>;
  readonly ingress: boolean;
  readonly egress: boolean;
  /** Indexes of the rules that select the endpoint, at `revision`. */
  readonly rules: readonly number[];
  /** The last revision whose entries reached the map (kept while a newer one is pending). */
  readonly realizedRevision: number;
  readonly status: Status;
}

/** The primary key of an endpoint's row. */
export function policyKeyOf(id: number): string {
  return String(id).padStart(5, '0');
}

/** The table of endpoints' desired policy maps. */
export function newPolicyTable(db: DB): Table<EndpointPolicy> {
  return db.newTable<EndpointPolicy>({
    name: 'endpoint-policy',
    primaryKey: (e) => policyKeyOf(e.id),
    indexes: [{ name: 'identity', key: (e) => String(e.identity), unique: false }],
  });
}
