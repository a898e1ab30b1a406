// A virtual router's neighbors in the peering policy file: the session (Cilium's defaults) and
// the path attributes its advertisements carry.
import { formatIp, parseIp } from '../../core/ip.js';
import type { Family } from './wire/types.js';
import type { NeighborConfig } from './speaker/types.js';
import { parseLarge, parseStandard, WELL_KNOWN } from './communities.js';
import { parseSelector, type LabelSelector } from './label-selector.js';
import {
  bool,
  fieldsOf,
  int,
  list,
  MAX_ASN,
  PolicyFileError,
  strings,
  type Where,
} from './policy-error.js';

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
  'maxPrefixes',
];

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
  const why = notUnicast(p.family, p.value);
  if (why) throw new PolicyFileError(w, field, `'${v}' is ${why}, not a peer's address`);
  return formatIp(p.family, p.value);
}

/**
 * Why an address cannot be a peer's: connecting to 0.0.0.0 or :: reaches this host, broadcast
 * and multicast reach no single router, and an IPv4-mapped IPv6 address is never what the
 * listener sees (it shows the peer's IPv4 address).
 */
function notUnicast(family: 'ipv4' | 'ipv6', v: bigint): string | undefined {
  if (family === 'ipv4') {
    if (v === 0n) return 'the unspecified address';
    if (v === 0xffffffffn) return 'the broadcast address';
    if (v >> 28n === 0xen) return 'a multicast address';
    return undefined;
  }
  if (v === 0n) return 'the unspecified address';
  if (v >> 120n === 0xffn) return 'a multicast address';
  if (v >> 32n === 0xffffn) return 'an IPv4-mapped address (write the IPv4 address)';
  return undefined;
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
  // One order whatever the file's: reordering the list is no change that resets the session.
  return (['ipv4-unicast', 'ipv6-unicast'] as const).filter((f) => out.includes(f));
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

/** A neighbor of the router with local ASN `localAsn`. */
export function neighbor(v: unknown, w: Where, field: string, localAsn: number): Neighbor {
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
    // Cilium's CRD allows up to 2^31-1; the speaker's retry timer takes 1..65535.
    connectRetrySec: int(
      o.connectRetryTimeSeconds,
      w,
      `${field}.connectRetryTimeSeconds`,
      1,
      // The speaker's limit (Cilium's CRD allows int32): refused here, the file names it and
      // the previous policies stay, rather than the speaker refusing every neighbor's config.
      65535,
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
    ...(o.maxPrefixes != null && {
      maxPrefixes: int(o.maxPrefixes, w, `${field}.maxPrefixes`, 1, 4294967295),
    }),
  };
  const pathAttributesList = list(
    o.advertisedPathAttributes,
    w,
    `${field}.advertisedPathAttributes`,
  ).map((a, i) => pathAttributes(a, w, `${field}.advertisedPathAttributes[${i}]`));
  return { session, pathAttributes: pathAttributesList };
}
