// GET /bgp/route-policies: each virtual router's policies as statements, in the shape of
// Cilium's (GoBGP's) route policies: an export policy that accepts, per neighbor, the prefixes
// computed for it with the communities and local preference they carry; an import policy that
// rejects everything (the node installs no route it learns).
import type { Model } from '../../core/api/index.js';
import type { NeighborRoutes } from './advertise.js';
import { formatCommunity } from './wire/index.js';
import type { VirtualRouter } from './policy-file.js';

type Statement = Record<string, unknown>;

function hostLen(prefix: string): number {
  return Number(prefix.split('/')[1]);
}

/** A neighbor's address as GoBGP's match-neighbors writes it (`10.0.0.1/32`, `fd00::1/128`). */
function neighborPrefix(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}

/** The statements of one neighbor: one per group of prefixes sharing source and attributes. */
function neighborStatements(n: NeighborRoutes): Statement[] {
  const groups = new Map<string, { statement: Statement; prefixes: string[] }>();
  for (const r of n.routes) {
    const source =
      r.source.kind === 'PodCIDR' ? 'PodCIDR' : `Service ${r.source.services.join(',')}`;
    const actions: Record<string, unknown> = { 'route-action': 'accept' };
    if (r.communities.length > 0) actions['add-communities'] = r.communities.map(formatCommunity);
    if (r.largeCommunities.length > 0) {
      actions['add-large-communities'] = r.largeCommunities.map((l) => l.join(':'));
    }
    if (r.localPref !== undefined) actions['set-local-preference'] = r.localPref;
    if (r.nextHop !== undefined) actions['set-next-hop'] = r.nextHop;
    const key = JSON.stringify([r.source.kind, actions]);
    let g = groups.get(key);
    if (!g) {
      g = { statement: { source, actions }, prefixes: [] };
      groups.set(key, g);
    } else if (g.statement.source !== source) {
      g.statement.source = r.source.kind;
    }
    g.prefixes.push(r.prefix);
  }
  const peer = neighborPrefix(n.neighbor);
  return [...groups.values()].map(({ statement, prefixes }) => ({
    conditions: {
      'match-neighbors': [peer],
      'match-prefixes': prefixes.map((cidr) => ({
        cidr,
        'prefix-len-min': hostLen(cidr),
        'prefix-len-max': hostLen(cidr),
      })),
    },
    ...statement,
  }));
}

/** Every router's export and import policy. */
export function exportPolicies(
  routers: readonly VirtualRouter[],
  adverts: readonly NeighborRoutes[],
): Model<'BgpRoutePolicy'>[] {
  return routers.flatMap((r) => {
    const mine = adverts.filter((a) => a.localAsn === r.localAsn);
    const peers = r.neighbors.map((n) => neighborPrefix(n.session.address));
    return [
      {
        'router-asn': r.localAsn,
        name: `cellium-export-${r.localAsn}`,
        type: 'export' as const,
        statements: [
          ...mine.flatMap(neighborStatements),
          // Anything else (nothing is, today: the speaker only has what the node originates).
          { conditions: { 'match-neighbors': peers }, actions: { 'route-action': 'reject' } },
        ],
      },
      {
        'router-asn': r.localAsn,
        name: `cellium-import-${r.localAsn}`,
        type: 'import' as const,
        statements: [
          { conditions: { 'match-neighbors': peers }, actions: { 'route-action': 'reject' } },
        ],
      },
    ];
  });
}
