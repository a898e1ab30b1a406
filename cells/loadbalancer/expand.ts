// A frontend's services-map entries: the addresses (a NodePort or HostPort on 0.0.0.0 or :: also
// on each node address of its family), the scopes (both, internal first, when the external and
// internal traffic policies differ), and for each its id, backends and flags. The reconciler
// writes these entries; the API refuses a frontend whose entries another frontend's would take.
import type { IdAllocator } from './ids.js';
import {
  LB_AFFINITY_TIMEOUT_MASK,
  LB_ALGORITHM,
  LB_ALGORITHM_SHIFT,
  SVC_FLAG,
  SVC_FLAG2,
} from './maps.js';
import {
  addrKey,
  externallyReachable,
  isV6,
  type Frontend,
  type FrontendBackend,
  type L3n4Addr,
  type L4Type,
  type LbAlgorithm,
  type Scope,
  type Service,
  type ServiceType,
} from './model.js';

/** 0.0.0.0 or ::, the address a NodePort listens on everywhere. */
export function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** A frontend as expansion sees it. */
export interface Expandable {
  readonly address: L3n4Addr;
  readonly type: ServiceType;
  readonly service: Pick<Service, 'extTrafficPolicy' | 'intTrafficPolicy'>;
}

/** The addresses of a frontend's entries (the surrogate 0.0.0.0 / :: first). */
export function entryIps(fe: Expandable, nodeAddresses: readonly string[]): string[] {
  const ip = fe.address.ip;
  if ((fe.type !== 'NodePort' && fe.type !== 'HostPort') || !isUnspecified(ip)) return [ip];
  return [ip, ...nodeAddresses.filter((a) => isV6(a) === isV6(ip))];
}

/** Whether a frontend gets an external and an internal entry (its traffic policies differ). */
export function twoScopes(fe: Expandable): boolean {
  const reach = externallyReachable(fe.type);
  const extLocal = reach && fe.service.extTrafficPolicy === 'Local';
  const intLocal = fe.service.intTrafficPolicy === 'Local';
  return reach && extLocal !== intLocal && fe.address.scope === 'external';
}

/**
 * The scopes of a frontend's entries. Two: the internal one before the external one, whose
 * TWO_SCOPES flag sends the datapath looking for it, so a batch that stops between them
 * leaves no dangling flag.
 */
export function entryScopes(fe: Expandable): Scope[] {
  if (fe.address.scope === 'internal') return ['internal'];
  return twoScopes(fe) ? ['internal', 'external'] : ['external'];
}

/** The keys of a frontend's entries. */
export function entryKeys(fe: Expandable, nodeAddresses: readonly string[]): string[] {
  const scopes = entryScopes(fe);
  return entryIps(fe, nodeAddresses).flatMap((ip) =>
    scopes.map((scope) => addrKey({ ...fe.address, ip, scope })),
  );
}

/** What expanding a frontend into entries needs (a subset of the reconciler's params). */
export interface ExpandParams {
  /** Allocates the ids of NodePort addresses and of internal scopes. */
  readonly serviceIds: IdAllocator;
  readonly nodeAddresses: () => readonly string[];
  /** This node's name: backends with it are local (externalTrafficPolicy=Local). */
  readonly nodeName: string;
  readonly algorithm: LbAlgorithm;
  readonly sessionAffinity: boolean;
  readonly sourceRangeCheck: boolean;
  readonly externalClusterIp: boolean;
}

/** One entry of the services map a frontend wants (an address and a scope). */
export interface Entry {
  /** addrKey of the entry's address and scope: whose id it uses. */
  readonly key: string;
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly protocol: L4Type;
  readonly scope: Scope;
  readonly backends: readonly FrontendBackend[];
  readonly active: number;
  readonly flags: number;
  readonly flags2: number;
  /** The master entry's backend_id field: algorithm and affinity timeout. */
  readonly algorithmAndTimeout: number;
  readonly maglev: boolean;
  readonly affinity: boolean;
  readonly sourceRanges: readonly string[];
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** The services-map entries a frontend wants now, each with its id (acquired for expansions). */
export function expandFrontend(fe: Frontend, p: ExpandParams): Entry[] {
  const svc = fe.service;
  const reach = externallyReachable(fe.type);
  const local = fe.backends.filter((b) => b.nodeName !== '' && b.nodeName === p.nodeName);
  const extLocal = reach && svc.extTrafficPolicy === 'Local';
  const intLocal = svc.intTrafficPolicy === 'Local';
  const ext = extLocal ? local : fe.backends;
  const int = intLocal ? local : fe.backends;
  const two = twoScopes(fe);
  const algorithm = svc.algorithm ?? p.algorithm;
  const affinity = p.sessionAffinity && svc.sessionAffinity;
  const ranges =
    fe.type === 'LoadBalancer' && p.sourceRangeCheck ? svc.sourceRanges : ([] as string[]);
  const scopes = entryScopes(fe);
  const out: Entry[] = [];
  for (const ip of entryIps(fe, p.nodeAddresses())) {
    const surrogate = isUnspecified(ip);
    for (const scope of scopes) {
      const bes = scope === 'internal' ? int : reach ? ext : int;
      const addr = { ip, port: fe.address.port, protocol: fe.address.protocol, scope };
      const key = addrKey(addr);
      const id = key === fe.key ? fe.id : p.serviceIds.acquire(key);
      let flags = 0;
      let flags2 = 0;
      if (fe.type === 'NodePort') flags |= SVC_FLAG.NODEPORT;
      if (fe.type === 'ExternalIPs') flags |= SVC_FLAG.EXTERNAL_IP;
      if (fe.type === 'LoadBalancer') flags |= SVC_FLAG.LOADBALANCER;
      if (fe.type === 'HostPort') flags |= SVC_FLAG.HOSTPORT;
      if (fe.type === 'LocalRedirect') flags2 |= SVC_FLAG2.LOCALREDIRECT;
      const routable =
        !surrogate &&
        fe.type !== 'LocalRedirect' &&
        (fe.type !== 'ClusterIP' || p.externalClusterIp);
      if (routable) flags |= SVC_FLAG.ROUTABLE;
      if (extLocal) flags |= SVC_FLAG.EXT_LOCAL_SCOPE;
      if (intLocal) flags2 |= SVC_FLAG2.INT_LOCAL_SCOPE;
      if (two) flags2 |= SVC_FLAG2.TWO_SCOPES;
      if (affinity) flags |= SVC_FLAG.AFFINITY;
      if (ranges.length > 0) flags |= SVC_FLAG.SOURCE_RANGE;
      if (fe.type === 'HostPort' && isLoopback(ip)) flags2 |= SVC_FLAG2.LOOPBACK;
      const active = bes.filter((b) => b.state === 'active').length;
      const meta =
        ((LB_ALGORITHM[algorithm] << LB_ALGORITHM_SHIFT) >>> 0) |
        (affinity ? svc.sessionAffinityTimeoutSec & LB_AFFINITY_TIMEOUT_MASK : 0);
      out.push({
        key,
        id,
        ip,
        port: fe.address.port,
        protocol: fe.address.protocol,
        scope,
        backends: bes,
        active,
        flags,
        flags2,
        algorithmAndTimeout: meta >>> 0,
        maglev: algorithm === 'maglev',
        affinity,
        sourceRanges: ranges.filter((c) => isV6(c) === isV6(ip)),
      });
    }
  }
  return out;
}
