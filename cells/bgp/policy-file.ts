// The peering policy file (--bgp-config): CiliumBGPPeeringPolicy objects (v2alpha1, plus
// `passive`) parsed and validated whole. Defaults are Cilium's; every refusal names the file,
// the object and the field.
import { parseAllDocuments } from 'yaml';
import { formatIp, parseIp } from '../../core/ip.js';
import type { Family } from './wire/types.js';
import type { NeighborConfig } from './speaker/types.js';
import { parseLarge, parseStandard, WELL_KNOWN } from './communities.js';
import { parseSelector, type LabelSelector } from './label-selector.js';
import { fieldsOf, PolicyFileError, type Where } from './policy-error.js';

/** Which service addresses a virtual router advertises. */
export type ServiceAdvertisement = 'LoadBalancerIP' | 'ExternalIP' | 'ClusterIP';

/** Communities and local preference given to the prefixes a selector picks, for one neighbor. */
export interface PathAttributesRule {
  readonly selectorType: 'PodCIDR' | 'Service';
  /** Undefined: every prefix of the type. */
  readonly selector?: LabelSelector;
  readonly communities: readonly number[];
  readonly largeCommunities: readonly (readonly [number, number, number])[];
  readonly localPreference?: number;
}

/** One neighbor of a virtual router: its session and what its advertisements carry. */
export interface Neighbor {
  readonly session: NeighborConfig;
  readonly pathAttributes: readonly PathAttributesRule[];
}

/** A virtual router: one local ASN, what it exports and to whom. */
export interface VirtualRouter {
  /** The policy it comes from (for errors and route policies). */
  readonly policy: string;
  readonly localAsn: number;
  readonly exportPodCidr: boolean;
  /** Undefined: no service is advertised. */
  readonly serviceSelector?: LabelSelector;
  readonly serviceAdvertisements: readonly ServiceAdvertisement[];
  readonly neighbors: readonly Neighbor[];
}

/** A CiliumBGPPeeringPolicy. */
export interface PeeringPolicy {
  readonly name: string;
  /** Undefined: every node. */
  readonly nodeSelector?: LabelSelector;
  readonly virtualRouters: readonly VirtualRouter[];
}

const MAX_ASN = 4294967295;
const SERVICE_ADS: readonly ServiceAdvertisement[] = ['LoadBalancerIP', 'ExternalIP', 'ClusterIP'];
const ROUTER_FIELDS = [
  'localASN',
  'exportPodCIDR',
  'podIPPoolSelector',
  'serviceSelector',
  'serviceAdvertisements',
  'neighbors',
];
const NEIGHBOR_FIELDS = [
  'peerAddress',
  'peerASN',
  'peerPort',
  'authSecretRef',
  'eBGPMultihopTTL',
  'connectRetryTimeSeconds',
  'holdTimeSeconds',
  'keepAliveTimeSeconds',
  'gracefulRestart',
  'families',
  'advertisedPathAttributes',
  'passive',
];

function int(v: unknown, w: Where, field: string, min: number, max: number, def?: number): number {
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    throw new PolicyFileError(w, field, 'is required');
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PolicyFileError(w, field, `${JSON.stringify(v)} is not an integer in ${min}..${max}`);
  }
  return v;
}

function bool(v: unknown, w: Where, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean')
    throw new PolicyFileError(w, field, `${JSON.stringify(v)} is not true or false`);
  return v;
}

function list(v: unknown, w: Where, field: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PolicyFileError(w, field, 'must be a list');
  return v as unknown[];
}

function strings(v: unknown, w: Where, field: string): string[] {
  return list(v, w, field).map((s, i) => {
    if (typeof s !== 'string') throw new PolicyFileError(w, `${field}[${i}]`, 'must be a string');
    return s;
  });
}

/** A peer address: a bare IP or Cilium's /32 or /128 form, canonical. */
function peerAddress(v: unknown, w: Where, field: string): string {
  if (typeof v !== 'string')
    throw new PolicyFileError(w, field, 'is required (an IP, or IP/32, IP/128)');
  const [ip = '', len, more] = v.split('/');
  const p = parseIp(ip);
  const full = p?.family === 'ipv4' ? '32' : '128';
  if (!p || more !== undefined || (len !== undefined && len !== full)) {
    throw new PolicyFileError(w, field, `'${v}' is not a peer address (an IP, or IP/32, IP/128)`);
  }
  return formatIp(p.family, p.value);
}

function families(v: unknown, w: Where, field: string): Family[] {
  if (v === undefined || v === null) return ['ipv4-unicast', 'ipv6-unicast'];
  const out = list(v, w, field).map((f, i): Family => {
    const o = fieldsOf(f, w, `${field}[${i}]`, ['afi', 'safi']);
    if (o.afi !== 'ipv4' && o.afi !== 'ipv6') {
      throw new PolicyFileError(
        w,
        `${field}[${i}].afi`,
        `${JSON.stringify(o.afi)} is not ipv4 or ipv6`,
      );
    }
    if (o.safi !== 'unicast') {
      throw new PolicyFileError(
        w,
        `${field}[${i}].safi`,
        `${JSON.stringify(o.safi)} is not unicast (the only SAFI carried)`,
      );
    }
    return `${o.afi}-unicast`;
  });
  if (out.length === 0) throw new PolicyFileError(w, field, 'names no family');
  return [...new Set(out)];
}

function pathAttributes(v: unknown, w: Where, field: string): PathAttributesRule {
  const o = fieldsOf(v, w, field, ['selectorType', 'selector', 'communities', 'localPreference']);
  const type = o.selectorType;
  if (type === 'CiliumLoadBalancerIPPool') {
    throw new PolicyFileError(
      w,
      `${field}.selectorType`,
      'CiliumLoadBalancerIPPool is not supported (Cellium has no LB IP pools): use Service or PodCIDR',
    );
  }
  if (type !== 'PodCIDR' && type !== 'Service') {
    throw new PolicyFileError(
      w,
      `${field}.selectorType`,
      `${JSON.stringify(type)} is not PodCIDR or Service`,
    );
  }
  const selector =
    o.selector == null ? undefined : parseSelector(o.selector, w, `${field}.selector`);
  const c =
    o.communities == null
      ? {}
      : fieldsOf(o.communities, w, `${field}.communities`, ['standard', 'wellKnown', 'large']);
  const communities = [
    ...strings(c.standard, w, `${field}.communities.standard`).map((s, i) => {
      const n = parseStandard(s);
      if (typeof n === 'string')
        throw new PolicyFileError(w, `${field}.communities.standard[${i}]`, n);
      return n;
    }),
    ...strings(c.wellKnown, w, `${field}.communities.wellKnown`).map((s, i) => {
      const n = WELL_KNOWN[s];
      if (n === undefined) {
        throw new PolicyFileError(
          w,
          `${field}.communities.wellKnown[${i}]`,
          `'${s}' is not one of ${Object.keys(WELL_KNOWN).join(', ')}`,
        );
      }
      return n;
    }),
  ];
  const largeCommunities = strings(c.large, w, `${field}.communities.large`).map((s, i) => {
    const l = parseLarge(s);
    if (typeof l === 'string') throw new PolicyFileError(w, `${field}.communities.large[${i}]`, l);
    return l;
  });
  const lp =
    o.localPreference == null
      ? undefined
      : int(o.localPreference, w, `${field}.localPreference`, 0, MAX_ASN);
  return {
    selectorType: type,
    ...(selector ? { selector } : {}),
    communities: [...new Set(communities)],
    largeCommunities,
    ...(lp !== undefined ? { localPreference: lp } : {}),
  };
}

function neighbor(v: unknown, w: Where, field: string, localAsn: number): Neighbor {
  const o = fieldsOf(v, w, field, NEIGHBOR_FIELDS);
  if (o.authSecretRef != null) {
    throw new PolicyFileError(
      w,
      `${field}.authSecretRef`,
      'TCP MD5 authentication is not supported',
    );
  }
  const address = peerAddress(o.peerAddress, w, `${field}.peerAddress`);
  const holdTimeSec = int(o.holdTimeSeconds, w, `${field}.holdTimeSeconds`, 0, 65535, 90);
  if (holdTimeSec === 1 || holdTimeSec === 2) {
    throw new PolicyFileError(
      w,
      `${field}.holdTimeSeconds`,
      `${holdTimeSec} is not 0 or 3..65535 (RFC 4271)`,
    );
  }
  const keepaliveSec = int(
    o.keepAliveTimeSeconds,
    w,
    `${field}.keepAliveTimeSeconds`,
    0,
    65535,
    holdTimeSec === 0 ? 0 : Math.min(30, Math.floor(holdTimeSec / 3)),
  );
  if (keepaliveSec > holdTimeSec) {
    throw new PolicyFileError(
      w,
      `${field}.keepAliveTimeSeconds`,
      `${keepaliveSec} is more than holdTimeSeconds ${holdTimeSec}`,
    );
  }
  if (keepaliveSec === 0 && holdTimeSec > 0) {
    throw new PolicyFileError(
      w,
      `${field}.keepAliveTimeSeconds`,
      '0 with a non-zero hold time would let the session expire',
    );
  }
  const gr =
    o.gracefulRestart == null
      ? {}
      : fieldsOf(o.gracefulRestart, w, `${field}.gracefulRestart`, [
          'enabled',
          'restartTimeSeconds',
        ]);
  const session: NeighborConfig = {
    address,
    port: int(o.peerPort, w, `${field}.peerPort`, 1, 65535, 179),
    peerAsn: int(o.peerASN, w, `${field}.peerASN`, 1, MAX_ASN),
    localAsn,
    passive: bool(o.passive, w, `${field}.passive`),
    connectRetrySec: int(
      o.connectRetryTimeSeconds,
      w,
      `${field}.connectRetryTimeSeconds`,
      1,
      2147483647,
      120,
    ),
    holdTimeSec,
    keepaliveSec,
    ebgpMultihopTtl: int(o.eBGPMultihopTTL, w, `${field}.eBGPMultihopTTL`, 1, 255, 1),
    gracefulRestart: {
      enabled: bool(gr.enabled, w, `${field}.gracefulRestart.enabled`),
      // RFC 4724: 12 bits.
      restartTimeSec: int(
        gr.restartTimeSeconds,
        w,
        `${field}.gracefulRestart.restartTimeSeconds`,
        1,
        4095,
        120,
      ),
    },
    families: families(o.families, w, `${field}.families`),
  };
  const pathAttributesList = list(
    o.advertisedPathAttributes,
    w,
    `${field}.advertisedPathAttributes`,
  ).map((a, i) => pathAttributes(a, w, `${field}.advertisedPathAttributes[${i}]`));
  return { session, pathAttributes: pathAttributesList };
}

function virtualRouter(v: unknown, w: Where, field: string, policy: string): VirtualRouter {
  const o = fieldsOf(v, w, field, ROUTER_FIELDS);
  if (o.podIPPoolSelector != null) {
    throw new PolicyFileError(
      w,
      `${field}.podIPPoolSelector`,
      'multi-pool IPAM is not supported: use exportPodCIDR',
    );
  }
  const localAsn = int(o.localASN, w, `${field}.localASN`, 1, MAX_ASN);
  const ads =
    o.serviceAdvertisements == null
      ? ['LoadBalancerIP']
      : strings(o.serviceAdvertisements, w, `${field}.serviceAdvertisements`);
  ads.forEach((a, i) => {
    if (!(SERVICE_ADS as readonly string[]).includes(a)) {
      throw new PolicyFileError(
        w,
        `${field}.serviceAdvertisements[${i}]`,
        `'${a}' is not one of ${SERVICE_ADS.join(', ')}`,
      );
    }
  });
  const neighbors = list(o.neighbors, w, `${field}.neighbors`).map((n, i) =>
    neighbor(n, w, `${field}.neighbors[${i}]`, localAsn),
  );
  const selector =
    o.serviceSelector == null
      ? undefined
      : parseSelector(o.serviceSelector, w, `${field}.serviceSelector`);
  return {
    policy,
    localAsn,
    exportPodCidr: bool(o.exportPodCIDR, w, `${field}.exportPodCIDR`),
    ...(selector ? { serviceSelector: selector } : {}),
    serviceAdvertisements: [...new Set(ads as ServiceAdvertisement[])],
    neighbors,
  };
}

function policyObject(doc: unknown, file: string, index: number): PeeringPolicy {
  let w: Where = { file, object: `object ${index + 1}` };
  const o = fieldsOf(doc, w, '', ['apiVersion', 'kind', 'metadata', 'spec']);
  if (o.kind === 'CiliumLoadBalancerIPPool') {
    throw new PolicyFileError(
      w,
      'kind',
      'CiliumLoadBalancerIPPool is not supported: Cellium has no LB IP pools (services bring their LoadBalancer IPs)',
    );
  }
  if (o.kind !== 'CiliumBGPPeeringPolicy') {
    throw new PolicyFileError(w, 'kind', `${JSON.stringify(o.kind)} is not CiliumBGPPeeringPolicy`);
  }
  if (o.apiVersion !== undefined && o.apiVersion !== 'cilium.io/v2alpha1') {
    throw new PolicyFileError(
      w,
      'apiVersion',
      `${JSON.stringify(o.apiVersion)} is not cilium.io/v2alpha1`,
    );
  }
  const meta = fieldsOf(o.metadata, w, 'metadata');
  if (typeof meta.name !== 'string' || meta.name === '') {
    throw new PolicyFileError(w, 'metadata.name', 'is required');
  }
  const name = meta.name;
  w = { file, object: `CiliumBGPPeeringPolicy ${name}` };
  const spec = fieldsOf(o.spec, w, 'spec', ['nodeSelector', 'virtualRouters']);
  const nodeSelector =
    spec.nodeSelector == null
      ? undefined
      : parseSelector(spec.nodeSelector, w, 'spec.nodeSelector');
  const routers = list(spec.virtualRouters, w, 'spec.virtualRouters').map((r, i) =>
    virtualRouter(r, w, `spec.virtualRouters[${i}]`, name),
  );
  const asns = new Set<number>();
  routers.forEach((r, i) => {
    if (asns.has(r.localAsn)) {
      throw new PolicyFileError(
        w,
        `spec.virtualRouters[${i}].localASN`,
        `${r.localAsn} is used by another virtual router`,
      );
    }
    asns.add(r.localAsn);
  });
  checkUniquePeers(routers, w);
  return { name, ...(nodeSelector ? { nodeSelector } : {}), virtualRouters: routers };
}

/** Refuses a peer address configured twice (the speaker has one session per address). */
export function checkUniquePeers(routers: readonly VirtualRouter[], w: Where): void {
  const seen = new Map<string, string>();
  for (const r of routers) {
    for (const n of r.neighbors) {
      const where = `virtual router ${r.localAsn} of ${r.policy}`;
      const prev = seen.get(n.session.address);
      if (prev !== undefined) {
        throw new PolicyFileError(
          w,
          'peerAddress',
          `${n.session.address} is a neighbor of both ${prev} and ${where}`,
        );
      }
      seen.set(n.session.address, where);
    }
  }
}

/** Parses a policy file's text: one object, several YAML documents, or a `kind: List`. */
export function parsePolicyFile(text: string, file: string): PeeringPolicy[] {
  const docs = parseAllDocuments(text);
  const objects: unknown[] = [];
  for (const [i, d] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (d.errors.length > 0) {
      throw new PolicyFileError(
        { file, object: `document ${i + 1}` },
        '',
        `not JSON or YAML: ${d.errors[0]?.message.split('\n')[0] ?? ''}`,
      );
    }
    const v: unknown = d.toJS();
    if (v === null || v === undefined) continue;
    const items =
      (v as { kind?: unknown; items?: unknown }).kind === 'List'
        ? (v as { items?: unknown }).items
        : [v];
    if (!Array.isArray(items))
      throw new PolicyFileError({ file, object: `document ${i + 1}` }, 'items', 'must be a list');
    objects.push(...(items as unknown[]));
  }
  const policies = objects.map((o, i) => policyObject(o, file, i));
  const names = new Set<string>();
  for (const p of policies) {
    if (names.has(p.name))
      throw new PolicyFileError(
        { file, object: `CiliumBGPPeeringPolicy ${p.name}` },
        'metadata.name',
        'is used by another policy',
      );
    names.add(p.name);
  }
  return policies;
}
