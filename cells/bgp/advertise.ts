// What each neighbor is sent: a pure function of the virtual routers, the node's pod CIDRs and
// the load balancer's frontends (advertise-job.ts feeds it from the tables and calls the speaker).
import { formatIp, parseIp } from '../../core/ip.js';
import type { Frontend, Service } from '../loadbalancer/index.js';
import type { Advertisement } from './speaker/types.js';
import { prefixFamily } from './wire/index.js';
import { selects } from './label-selector.js';
import type { Neighbor, PathAttributesRule, VirtualRouter } from './policy-file.js';

/** The label Cilium adds to a service's own for serviceSelector: its name. */
export const SERVICE_NAME_LABEL = 'io.kubernetes.service.name';
/** The label Cilium adds to a service's own for serviceSelector: its namespace. */
export const SERVICE_NAMESPACE_LABEL = 'io.kubernetes.service.namespace';

/** What the advertisements are computed from. */
export interface AdvertiseInput {
  readonly routers: readonly VirtualRouter[];
  /** This node's pod CIDRs (each family's pool), canonical. */
  readonly podCidrs: readonly string[];
  readonly frontends: Iterable<Frontend>;
  /** --node-name: which backends are local (externalTrafficPolicy Local). */
  readonly nodeName: string;
  /** This node's labels (PodCIDR path attribute selectors). */
  readonly nodeLabels: Readonly<Record<string, string>>;
  /** The node's addresses (--ipv4-node / --ipv6-node): the next hop of each family. */
  readonly nextHop: { readonly ipv4?: string; readonly ipv6?: string };
}

/** Why a prefix is exported: the pod CIDR, or the services whose addresses it is. */
export type RouteSource =
  { readonly kind: 'PodCIDR' } | { readonly kind: 'Service'; readonly services: readonly string[] };

/** One exported route with its source (GET /bgp/route-policies shows them). */
export interface Exported extends Advertisement {
  readonly source: RouteSource;
}

/** The routes of one neighbor of one virtual router. */
export interface NeighborRoutes {
  readonly localAsn: number;
  readonly neighbor: string;
  readonly routes: readonly Exported[];
}

/** The labels serviceSelector sees: the service's plus its name and namespace (as Cilium). */
export function serviceLabels(s: Service): Record<string, string> {
  return { ...s.labels, [SERVICE_NAME_LABEL]: s.name, [SERVICE_NAMESPACE_LABEL]: s.namespace };
}

/** The host route of an address: /32 or /128, canonical. */
export function hostPrefix(ip: string): string | undefined {
  const p = parseIp(ip);
  if (!p || p.value === 0n) return undefined; // an unspecified address is no VIP
  return `${formatIp(p.family, p.value)}/${p.family === 'ipv4' ? 32 : 128}`;
}

/** Whether the node has an active backend of the frontend (a Local traffic policy's condition). */
function hasLocalBackend(f: Frontend, nodeName: string): boolean {
  return f.backends.some((b) => b.state === 'active' && b.nodeName === nodeName);
}

/** The address a frontend makes a router advertise, if any. */
function frontendPrefix(r: VirtualRouter, f: Frontend, nodeName: string): string | undefined {
  const ads = r.serviceAdvertisements;
  const svc = f.service;
  let local: boolean;
  if (f.type === 'LoadBalancer' && ads.includes('LoadBalancerIP'))
    local = svc.extTrafficPolicy === 'Local';
  else if (f.type === 'ExternalIPs' && ads.includes('ExternalIP'))
    local = svc.extTrafficPolicy === 'Local';
  else if (f.type === 'ClusterIP' && ads.includes('ClusterIP'))
    local = svc.intTrafficPolicy === 'Local';
  else return undefined;
  if (local && !hasLocalBackend(f, nodeName)) return undefined;
  return hostPrefix(f.address.ip);
}

/** The prefixes a virtual router exports, each with its source (before per-neighbor attributes). */
export function routerPrefixes(
  r: VirtualRouter,
  input: Pick<AdvertiseInput, 'podCidrs' | 'frontends' | 'nodeName'>,
): Map<string, { source: RouteSource; labels: readonly Record<string, string>[] }> {
  const out = new Map<string, { source: RouteSource; labels: Record<string, string>[] }>();
  if (r.exportPodCidr) {
    for (const c of input.podCidrs) out.set(c, { source: { kind: 'PodCIDR' }, labels: [] });
  }
  if (r.serviceSelector) {
    const byPrefix = new Map<string, { keys: string[]; labels: Record<string, string>[] }>();
    for (const f of input.frontends) {
      const labels = serviceLabels(f.service);
      if (!selects(r.serviceSelector, labels)) continue;
      const prefix = frontendPrefix(r, f, input.nodeName);
      if (prefix === undefined || out.has(prefix)) continue;
      let e = byPrefix.get(prefix);
      if (!e) byPrefix.set(prefix, (e = { keys: [], labels: [] }));
      if (e.keys.includes(f.service.key)) continue; // another port of the same service
      e.keys.push(f.service.key);
      e.labels.push(labels);
    }
    for (const [prefix, e] of byPrefix) {
      out.set(prefix, { source: { kind: 'Service', services: e.keys.sort() }, labels: e.labels });
    }
  }
  return out;
}

/** Whether a path attribute rule applies to a route. */
function ruleMatches(
  rule: PathAttributesRule,
  source: RouteSource,
  labels: readonly Record<string, string>[],
  nodeLabels: Readonly<Record<string, string>>,
): boolean {
  if (rule.selectorType !== source.kind) return false;
  if (!rule.selector) return true;
  // PodCIDR selectors are matched against the node (whose CIDR it is); Service selectors
  // against any of the services sharing the address.
  if (source.kind === 'PodCIDR') return selects(rule.selector, nodeLabels);
  return labels.some((l) => rule.selector !== undefined && selects(rule.selector, l));
}

function routeFor(
  n: Neighbor,
  prefix: string,
  source: RouteSource,
  labels: readonly Record<string, string>[],
  input: AdvertiseInput,
): Exported {
  const communities = new Set<number>();
  const large = new Map<string, readonly [number, number, number]>();
  let localPref: number | undefined;
  for (const rule of n.pathAttributes) {
    if (!ruleMatches(rule, source, labels, input.nodeLabels)) continue;
    for (const c of rule.communities) communities.add(c);
    for (const l of rule.largeCommunities) large.set(l.join(':'), l);
    // Several rules with a local preference: the highest wins (the most preferred intent).
    if (rule.localPreference !== undefined)
      localPref = Math.max(localPref ?? 0, rule.localPreference);
  }
  const nextHop = prefix.includes(':') ? input.nextHop.ipv6 : input.nextHop.ipv4;
  return {
    prefix,
    ...(nextHop !== undefined ? { nextHop } : {}),
    communities: [...communities].sort((a, b) => a - b),
    largeCommunities: [...large.values()],
    ...(localPref !== undefined ? { localPref } : {}),
    source,
  };
}

/** Every neighbor's routes, neighbors by router ASN then address; routes by prefix. */
export function computeAdvertisements(input: AdvertiseInput): NeighborRoutes[] {
  const out: NeighborRoutes[] = [];
  for (const r of input.routers) {
    const prefixes = [...routerPrefixes(r, input)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const n of r.neighbors) {
      const fams = new Set(n.session.families);
      const routes = prefixes
        .filter(([p]) => fams.has(prefixFamily(p)))
        .map(([p, { source, labels }]) => routeFor(n, p, source, labels, input));
      out.push({ localAsn: r.localAsn, neighbor: n.session.address, routes });
    }
  }
  return out;
}
