// Encoding path attributes (RFC 4271 §4.3, §5; RFC 6793 for 2-octet sessions; RFC 4760 MP_REACH).
import { parseIpv4, parseIpv6 } from './addr.js';
import { encodeAsPath, hasAs4 } from './as-path.js';
import { AS_TRANS, ATTR, ATTR_INFO, FLAG } from './attr-codes.js';
import { checkUint, Writer } from './bytes.js';
import { codesOf } from './family.js';
import { encodePrefix } from './nlri.js';
import type { Family, MpReach, MpUnreach, PathAttrs, WireContext } from './types.js';

/** One attribute: flags (Extended Length set when the value needs it), code, length, value. */
export function attrTlv(flags: number, code: number, value: Uint8Array): Uint8Array {
  checkUint(`attribute ${code} length`, value.length, 0xffff);
  const ext = value.length > 255;
  const hlen = ext ? 4 : 3;
  const out = new Uint8Array(hlen + value.length);
  out[0] = ext ? flags | FLAG.EXTENDED : flags & ~FLAG.EXTENDED;
  out[1] = code;
  if (ext) {
    out[2] = value.length >>> 8;
    out[3] = value.length & 0xff;
  } else out[2] = value.length;
  out.set(value, hlen);
  return out;
}

/** A modelled attribute with the flags RFC 4271 gives it. */
function std(code: number, value: Uint8Array): { code: number; bytes: Uint8Array } {
  return { code, bytes: attrTlv(ATTR_INFO.get(code)?.flags ?? FLAG.OPTIONAL, code, value) };
}

function ipv4(what: string, s: string): Uint8Array {
  const b = parseIpv4(s);
  if (!b) throw new RangeError(`${what} '${s}' is not an IPv4 address`);
  return b;
}

function u32(v: number, what: string): Uint8Array {
  return new Writer(4).u32(checkUint(what, v, 0xffffffff)).done();
}

/** The next hop field of MP_REACH_NLRI: IPv4, or global IPv6 (and link-local: 32 bytes). */
function mpNextHop(family: Family, nextHops: readonly string[]): Uint8Array {
  if (family === 'ipv4-unicast') {
    if (nextHops.length !== 1)
      throw new RangeError(`IPv4 MP_REACH_NLRI needs 1 next hop, got ${nextHops.length}`);
    return ipv4('next hop', nextHops[0] ?? '');
  }
  if (nextHops.length < 1 || nextHops.length > 2) {
    throw new RangeError(`IPv6 MP_REACH_NLRI needs 1 or 2 next hops, got ${nextHops.length}`);
  }
  const out = new Uint8Array(16 * nextHops.length);
  nextHops.forEach((nh, i) => {
    const b = parseIpv6(nh);
    if (!b) throw new RangeError(`next hop '${nh}' is not an IPv6 address`);
    out.set(b, 16 * i);
  });
  return out;
}

/** The value of MP_REACH_NLRI (RFC 4760 §3) from its next hop field and encoded NLRI. */
export function mpReachValue(
  family: Family,
  nextHop: Uint8Array,
  nlri: readonly Uint8Array[],
): Uint8Array {
  const { afi, safi } = codesOf(family);
  const w = new Writer(5 + nextHop.length + nlri.length * 17);
  w.u16(afi).u8(safi).u8(nextHop.length).bytes(nextHop).u8(0);
  for (const p of nlri) w.bytes(p);
  return w.done();
}

/** The MP_REACH_NLRI attribute of an MpReach. */
export function encodeMpReach(m: MpReach): Uint8Array {
  const nlri = m.nlri.map((p) => encodePrefix(p, m.family));
  return attrTlv(
    FLAG.OPTIONAL,
    ATTR.MP_REACH_NLRI,
    mpReachValue(m.family, mpNextHop(m.family, m.nextHops), nlri),
  );
}

/** The MP_UNREACH_NLRI attribute of an MpUnreach (no prefixes: the family's End-of-RIB). */
export function encodeMpUnreach(m: MpUnreach): Uint8Array {
  const { afi, safi } = codesOf(m.family);
  const w = new Writer().u16(afi).u8(safi);
  for (const p of m.withdrawn) w.bytes(encodePrefix(p, m.family));
  return attrTlv(FLAG.OPTIONAL, ATTR.MP_UNREACH_NLRI, w.done());
}

/** The next hop field for a route's next hop in a family (for packing). */
export function nextHopField(family: Family, nextHop: string): Uint8Array {
  return mpNextHop(family, [nextHop]);
}

/**
 * Each attribute's bytes in code order. LOCAL_PREF is left out on eBGP sessions (RFC 4271
 * §5.1.5); on 2-octet sessions ASNs over 65535 become AS_TRANS with AS4_PATH/AS4_AGGREGATOR.
 */
export function encodeAttrs(attrs: PathAttrs, ctx: WireContext, mpReach?: MpReach): Uint8Array[] {
  const out: { code: number; bytes: Uint8Array }[] = [];
  // Checked although typed: attributes may come from JSON or a cast.
  const origin: number = attrs.origin;
  out.push(std(ATTR.ORIGIN, Uint8Array.of(checkUint('ORIGIN', origin, 2))));
  out.push(std(ATTR.AS_PATH, encodeAsPath(attrs.asPath, ctx.as4 ? 4 : 2)));
  if (attrs.nextHop !== undefined) out.push(std(ATTR.NEXT_HOP, ipv4('NEXT_HOP', attrs.nextHop)));
  if (attrs.med !== undefined) out.push(std(ATTR.MED, u32(attrs.med, 'MED')));
  if (attrs.localPref !== undefined && ctx.ibgp) {
    out.push(std(ATTR.LOCAL_PREF, u32(attrs.localPref, 'LOCAL_PREF')));
  }
  if (attrs.atomicAggregate) out.push(std(ATTR.ATOMIC_AGGREGATE, new Uint8Array(0)));
  const agg = attrs.aggregator;
  if (agg) {
    const addr = ipv4('AGGREGATOR address', agg.address);
    checkUint('AGGREGATOR ASN', agg.asn, 0xffffffff);
    const w = new Writer(8);
    if (ctx.as4) w.u32(agg.asn);
    else w.u16(agg.asn > 0xffff ? AS_TRANS : agg.asn);
    out.push(std(ATTR.AGGREGATOR, w.bytes(addr).done()));
    if (!ctx.as4 && agg.asn > 0xffff) {
      out.push(std(ATTR.AS4_AGGREGATOR, new Writer(8).u32(agg.asn).bytes(addr).done()));
    }
  }
  if (attrs.communities?.length) {
    const w = new Writer(4 * attrs.communities.length);
    for (const c of attrs.communities) w.u32(checkUint('community', c, 0xffffffff));
    out.push(std(ATTR.COMMUNITIES, w.done()));
  }
  if (attrs.originatorId !== undefined) {
    out.push(std(ATTR.ORIGINATOR_ID, ipv4('ORIGINATOR_ID', attrs.originatorId)));
  }
  if (attrs.clusterList?.length) {
    const w = new Writer();
    for (const id of attrs.clusterList) w.bytes(ipv4('CLUSTER_LIST id', id));
    out.push(std(ATTR.CLUSTER_LIST, w.done()));
  }
  if (mpReach) out.push({ code: ATTR.MP_REACH_NLRI, bytes: encodeMpReach(mpReach) });
  if (!ctx.as4 && hasAs4(attrs.asPath)) {
    // AS4_PATH never carries confederation segments (RFC 6793 §3).
    const segs = attrs.asPath.filter((s) => s.type === 1 || s.type === 2);
    out.push(std(ATTR.AS4_PATH, encodeAsPath(segs, 4)));
  }
  if (attrs.largeCommunities?.length) {
    const w = new Writer(12 * attrs.largeCommunities.length);
    for (const lc of attrs.largeCommunities) {
      for (const part of lc) w.u32(checkUint('large community part', part, 0xffffffff));
    }
    out.push(std(ATTR.LARGE_COMMUNITY, w.done()));
  }
  for (const u of attrs.unknown) {
    checkUint('attribute code', u.code, 255);
    if (ATTR_INFO.has(u.code)) {
      throw new RangeError(
        `raw attribute code ${u.code} is a modelled attribute (${ATTR_INFO.get(u.code)?.name ?? ''})`,
      );
    }
    out.push({
      code: u.code,
      bytes: attrTlv(checkUint('attribute flags', u.flags, 255), u.code, u.value),
    });
  }
  out.sort((a, b) => a.code - b.code);
  return out.map((a) => a.bytes);
}
