// The router's own routes as GET /bgp/routes loc-rib shows them (Cilium's "available"): what
// it originates, encoded by the codec as it would send them (NLRI and each path attribute).
import type { Exported } from './advertise.js';
import { encodeAttrs, encodePrefix, prefixFamily } from './wire/index.js';

/** RFC 4271 §4.3 NLRI: length in bits, then the prefix's significant bytes. */
export function encodeNlri(prefix: string): Uint8Array {
  return encodePrefix(prefix, prefixFamily(prefix));
}

/**
 * The path attributes of an originated route, in code order: ORIGIN IGP, an empty AS_PATH (the
 * router's ASN is prepended per eBGP session), NEXT_HOP (IPv4) or MP_REACH_NLRI (IPv6).
 */
export function encodeLocalAttrs(r: Exported): Uint8Array[] {
  const v6 = r.prefix.includes(':');
  const attrs = {
    origin: 0 as const,
    asPath: [],
    ...(!v6 && r.nextHop !== undefined ? { nextHop: r.nextHop } : {}),
    unknown: [],
  };
  const mpReach =
    v6 && r.nextHop !== undefined
      ? {
          family: 'ipv6-unicast' as const,
          nextHops: [r.nextHop],
          nlri: [r.prefix],
        }
      : undefined;
  return encodeAttrs(attrs, { as4: true, ibgp: false }, mpReach);
}
