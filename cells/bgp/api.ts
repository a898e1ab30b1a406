// GET /v1/bgp/peers, /v1/bgp/routes, /v1/bgp/route-policies in Cilium's models; 501 while BGP
// is off (saying how to turn it on), 503 before the speaker runs.
import { ApiError, type Model } from '../../core/api/index.js';
import { parseIp } from '../../core/ip.js';
import type { Exported } from './advertise.js';
import type { BgpControlPlane } from './control-plane.js';
import { encodeLocalAttrs, encodeNlri } from './loc-rib.js';
import { exportPolicies } from './route-policy.js';
import type { BgpSpeaker, PeerStatus, RibRoute, SessionState } from './speaker/types.js';
import { canonicalAddress } from './speaker/config-check.js';
import { prefixFamily } from './wire/index.js';
import type { Family } from './wire/types.js';

type BgpPeer = Model<'BgpPeer'>;
type BgpRoute = Model<'BgpRoute'>;
type BgpPath = Model<'BgpPath'>;

/** The running speaker, or the 501/503 that says why there is none. */
export function runningSpeaker(cp: BgpControlPlane): BgpSpeaker {
  if (cp.disabled !== undefined) throw new ApiError(501, cp.disabled);
  const sp = cp.speaker();
  if (!sp)
    throw new ApiError(503, 'the BGP speaker is not running (starting or stopping)', {
      'Retry-After': '1',
    });
  return sp;
}

function afiOf(f: Family): string {
  return f === 'ipv6-unicast' ? 'ipv6' : 'ipv4';
}

/** Session states as Cilium's API spells them (pkg/bgpv1/types SessionState.String). */
const SESSION_STATE: Record<SessionState, string> = {
  idle: 'idle',
  connect: 'connect',
  active: 'active',
  opensent: 'open_sent',
  openconfirm: 'open_confirm',
  established: 'established',
};

/** A session as Cilium's BgpPeer. */
export function peerModel(p: PeerStatus, now: number): BgpPeer {
  const c = p.config;
  const fams =
    p.families.length > 0
      ? p.families
      : c.families.map((family) => ({ family, received: 0, accepted: 0, advertised: 0 }));
  return {
    'local-asn': c.localAsn,
    'peer-asn': c.peerAsn,
    'peer-address': c.address,
    'peer-port': c.port,
    'session-state': SESSION_STATE[p.state],
    'uptime-nanoseconds':
      p.establishedAt !== undefined ? Math.max(0, now - p.establishedAt) * 1_000_000 : 0,
    families: fams.map((f) => ({
      afi: afiOf(f.family),
      safi: 'unicast',
      received: f.received,
      accepted: f.accepted,
      advertised: f.advertised,
    })),
    'ebgp-multihop-ttl': c.ebgpMultihopTtl,
    'connect-retry-time-seconds': c.connectRetrySec,
    'configured-hold-time-seconds': c.holdTimeSec,
    'configured-keep-alive-time-seconds': c.keepaliveSec,
    'applied-hold-time-seconds': p.appliedHoldTimeSec,
    'applied-keep-alive-time-seconds': p.appliedKeepaliveSec,
    'graceful-restart': {
      enabled: c.gracefulRestart.enabled,
      'restart-time-seconds': c.gracefulRestart.restartTimeSec,
    },
  };
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function path(
  family: Family,
  nlri: Uint8Array,
  attrs: readonly Uint8Array[],
  best: boolean,
  stale: boolean,
  ageMs: number,
): BgpPath {
  return {
    family: { afi: afiOf(family), safi: 'unicast' },
    nlri: { base64: b64(nlri) },
    'path-attributes': attrs.map((a) => ({ base64: b64(a) })),
    best,
    stale,
    'age-nanoseconds': Math.max(0, ageMs) * 1_000_000,
  };
}

function ribRoute(asn: number, neighbor: string, r: RibRoute, now: number): BgpRoute {
  return {
    'router-asn': asn,
    neighbor,
    prefix: r.prefix,
    paths: [path(r.family, r.encodedNlri, r.encodedAttrs, r.best, r.stale, now - r.since)],
  };
}

/** A route as the router originates it, before a neighbor's export attributes. */
function origin(r: Exported): Exported {
  return {
    prefix: r.prefix,
    ...(r.nextHop !== undefined ? { nextHop: r.nextHop } : {}),
    communities: [],
    largeCommunities: [],
    source: r.source,
  };
}

/** What GET /bgp/routes asks (query parameters as the API validated their types). */
export interface RoutesQuery {
  readonly table_type: string;
  readonly afi: string;
  readonly safi: string;
  readonly router_asn?: number;
  readonly neighbor?: string;
}

/** A router_asn query parameter checked: an integer the API took, in the ASN range. */
function checkAsn(asn: number | undefined): void {
  if (asn !== undefined && !(Number.isSafeInteger(asn) && asn >= 1 && asn <= 4294967295)) {
    throw new ApiError(400, `router_asn: ${asn} is not an ASN (1..4294967295)`);
  }
}

/** A neighbor query parameter in the form neighbors are configured (`fd00:0::1` → `fd00::1`). */
function neighborParam(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!parseIp(v)) throw new ApiError(400, `neighbor: '${v.slice(0, 64)}' is not an IP address`);
  return canonicalAddress(v);
}

/** GET /bgp/routes: loc-rib (the routers' own routes), adj-rib-out or adj-rib-in per neighbor. */
export function routes(cp: BgpControlPlane, q: RoutesQuery, now = Date.now()): BgpRoute[] {
  const sp = runningSpeaker(cp);
  if (q.afi !== 'ipv4' && q.afi !== 'ipv6')
    throw new ApiError(400, `afi: '${q.afi}' is not ipv4 or ipv6`);
  if (q.safi !== 'unicast')
    throw new ApiError(400, `safi: '${q.safi}' is not unicast (the only SAFI carried)`);
  if (!['loc-rib', 'adj-rib-in', 'adj-rib-out'].includes(q.table_type)) {
    throw new ApiError(
      400,
      `table_type: '${q.table_type}' is not loc-rib, adj-rib-in or adj-rib-out`,
    );
  }
  checkAsn(q.router_asn);
  const neighbor = neighborParam(q.neighbor);
  const family: Family = `${q.afi}-unicast`;
  const routers = cp
    .routers()
    .filter((r) => q.router_asn === undefined || r.localAsn === q.router_asn);
  if (q.router_asn !== undefined && routers.length === 0) {
    throw new ApiError(404, `router_asn: no virtual router with local ASN ${q.router_asn}`);
  }
  const neighbors = routers.flatMap((r) =>
    r.neighbors.map((n) => ({ asn: r.localAsn, address: n.session.address })),
  );
  if (neighbor !== undefined && !neighbors.some((n) => n.address === neighbor)) {
    throw new ApiError(
      404,
      `neighbor: ${neighbor} is not a neighbor${q.router_asn !== undefined ? ` of virtual router ${q.router_asn}` : ''}`,
    );
  }
  if (q.table_type === 'loc-rib') {
    const out = new Map<string, BgpRoute>();
    for (const n of cp.advertisements()) {
      if (!routers.some((r) => r.localAsn === n.localAsn)) continue;
      for (const r of n.routes) {
        if (prefixFamily(r.prefix) !== family) continue;
        const key = `${n.localAsn}|${r.prefix}`;
        if (out.has(key)) continue;
        const age = now - (cp.originatedAt(n.localAsn, r.prefix) ?? now);
        out.set(key, {
          'router-asn': n.localAsn,
          prefix: r.prefix,
          paths: [
            path(family, encodeNlri(r.prefix), encodeLocalAttrs(origin(r)), true, false, age),
          ],
        });
      }
    }
    return [...out.values()];
  }
  const out: BgpRoute[] = [];
  for (const n of neighbors) {
    if (neighbor !== undefined && n.address !== neighbor) continue;
    const rib =
      q.table_type === 'adj-rib-out' ? sp.ribOut(n.address, family) : sp.ribIn(n.address, family);
    for (const r of rib) out.push(ribRoute(n.asn, n.address, r, now));
  }
  return out;
}

/** GET /bgp/peers. */
export function peers(cp: BgpControlPlane, now = Date.now()): BgpPeer[] {
  return runningSpeaker(cp)
    .peers()
    .map((p) => peerModel(p, now));
}

/** GET /bgp/route-policies. */
export function routePolicies(cp: BgpControlPlane, routerAsn?: number): Model<'BgpRoutePolicy'>[] {
  runningSpeaker(cp);
  checkAsn(routerAsn);
  const routers = cp.routers().filter((r) => routerAsn === undefined || r.localAsn === routerAsn);
  if (routerAsn !== undefined && routers.length === 0) {
    throw new ApiError(404, `router_asn: no virtual router with local ASN ${routerAsn}`);
  }
  return exportPolicies(routers, cp.advertisements());
}
