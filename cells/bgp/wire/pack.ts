// Packing many routes into few UPDATEs: routes with the same attributes and next hop share
// messages, each filled up to 4096 bytes (RFC 4271 §4.3; RFC 4760 for IPv6).
import { ATTR, FLAG } from './attr-codes.js';
import { encodeAttrs, nextHopField } from './attrs-encode.js';
import { codesOf } from './family.js';
import { encodePrefix } from './nlri.js';
import {
  HEADER_LEN,
  MAX_MESSAGE,
  MSG,
  type Family,
  type OutRoute,
  type PathAttrs,
  type WireContext,
} from './types.js';

/** Bytes of an UPDATE before its variable parts: header, withdrawn length, attribute length. */
const FIXED = HEADER_LEN + 4;
/** The largest MP attribute header (extended length). */
const MP_HDR = 4;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A message of `len` bytes with its header written. */
function message(len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.fill(0xff, 0, 16);
  out[16] = len >>> 8;
  out[17] = len & 0xff;
  out[18] = MSG.UPDATE;
  return out;
}

/** Writes an attribute header at `off`; returns where its value starts. */
function attrHeader(out: Uint8Array, off: number, code: number, valueLen: number): number {
  const ext = valueLen > 255;
  out[off] = FLAG.OPTIONAL | (ext ? FLAG.EXTENDED : 0);
  out[off + 1] = code;
  if (!ext) {
    out[off + 2] = valueLen;
    return off + 3;
  }
  out[off + 2] = valueLen >>> 8;
  out[off + 3] = valueLen & 0xff;
  return off + 4;
}

/** Splits encoded prefixes into runs whose bytes fit `room`. */
function chunks(nlri: readonly Uint8Array[], room: number): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  let cur: Uint8Array[] = [];
  let size = 0;
  for (const p of nlri) {
    if (size + p.length > room && cur.length > 0) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(p);
    size += p.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function checkRoom(room: number, what: string): void {
  if (room < 17) throw new RangeError(`${what} leave no room for a prefix in a 4096-byte UPDATE`);
}

/** One IPv4 group: NEXT_HOP among the attributes, prefixes in the NLRI field. */
function packIpv4(attrs: Uint8Array, nlri: readonly Uint8Array[], out: Uint8Array[]): void {
  const room = MAX_MESSAGE - FIXED - attrs.length;
  checkRoom(room, `path attributes of ${attrs.length} bytes`);
  for (const run of chunks(nlri, room)) {
    const body = concat(run);
    const m = message(FIXED + attrs.length + body.length);
    m[21] = attrs.length >>> 8;
    m[22] = attrs.length & 0xff;
    m.set(attrs, FIXED);
    m.set(body, FIXED + attrs.length);
    out.push(m);
  }
}

/** One IPv6 group: MP_REACH_NLRI (first, RFC 7606 §5.1) with the next hop and prefixes. */
function packIpv6(
  attrs: Uint8Array,
  nh: Uint8Array,
  nlri: readonly Uint8Array[],
  out: Uint8Array[],
): void {
  const mpFixed = 5 + nh.length;
  const room = MAX_MESSAGE - FIXED - attrs.length - MP_HDR - mpFixed;
  checkRoom(room, `path attributes of ${attrs.length} bytes`);
  const { afi, safi } = codesOf('ipv6-unicast');
  for (const run of chunks(nlri, room)) {
    const body = concat(run);
    const valueLen = mpFixed + body.length;
    const hdr = valueLen > 255 ? 4 : 3;
    const attrLen = hdr + valueLen + attrs.length;
    const m = message(FIXED + attrLen);
    m[21] = attrLen >>> 8;
    m[22] = attrLen & 0xff;
    let off = attrHeader(m, FIXED, ATTR.MP_REACH_NLRI, valueLen);
    m[off++] = afi >>> 8;
    m[off++] = afi & 0xff;
    m[off++] = safi;
    m[off++] = nh.length;
    m.set(nh, off);
    off += nh.length + 1; // reserved byte stays 0
    m.set(body, off);
    m.set(attrs, off + body.length);
    out.push(m);
  }
}

/**
 * The UPDATEs announcing routes of one family: routes with equal attributes and next hop
 * share messages, each at most 4096 bytes. Throws a RangeError naming a bad route.
 */
export function packUpdates(
  family: Family,
  routes: readonly OutRoute[],
  ctx: WireContext,
): Uint8Array[] {
  codesOf(family);
  const v6 = family === 'ipv6-unicast';
  // Routes usually share attribute objects: encode each object once, group by the bytes.
  const encoded = new Map<PathAttrs, string>();
  const groups = new Map<string, { attrs: PathAttrs; nextHop: string; nlri: Uint8Array[] }>();
  for (const r of routes) {
    let key = encoded.get(r.attrs);
    if (key === undefined) {
      const bytes = encodeAttrs({ ...r.attrs, nextHop: undefined }, ctx);
      key = Buffer.from(concat(bytes)).toString('latin1');
      encoded.set(r.attrs, key);
    }
    const gk = `${r.nextHop}\n${key}`;
    let g = groups.get(gk);
    if (!g) {
      g = { attrs: r.attrs, nextHop: r.nextHop, nlri: [] };
      groups.set(gk, g);
    }
    g.nlri.push(encodePrefix(r.prefix, family));
  }
  const out: Uint8Array[] = [];
  for (const g of groups.values()) {
    if (v6) {
      const attrs = concat(encodeAttrs({ ...g.attrs, nextHop: undefined }, ctx));
      packIpv6(attrs, nextHopField(family, g.nextHop), g.nlri, out);
    } else {
      nextHopField(family, g.nextHop); // names a next hop that is not IPv4
      packIpv4(concat(encodeAttrs({ ...g.attrs, nextHop: g.nextHop }, ctx)), g.nlri, out);
    }
  }
  return out;
}

/** The UPDATEs withdrawing prefixes of one family (IPv4: withdrawn routes; IPv6: MP_UNREACH_NLRI). */
export function packWithdrawals(
  family: Family,
  prefixes: readonly string[],
  _ctx: WireContext,
): Uint8Array[] {
  const { afi, safi } = codesOf(family);
  const nlri = prefixes.map((p) => encodePrefix(p, family));
  const out: Uint8Array[] = [];
  if (family === 'ipv4-unicast') {
    for (const run of chunks(nlri, MAX_MESSAGE - FIXED)) {
      const body = concat(run);
      const m = message(FIXED + body.length);
      m[19] = body.length >>> 8;
      m[20] = body.length & 0xff;
      m.set(body, 21); // the attribute length after it stays 0
      out.push(m);
    }
    return out;
  }
  for (const run of chunks(nlri, MAX_MESSAGE - FIXED - MP_HDR - 3)) {
    const body = concat(run);
    const valueLen = 3 + body.length;
    const attrLen = (valueLen > 255 ? 4 : 3) + valueLen;
    const m = message(FIXED + attrLen);
    m[21] = attrLen >>> 8;
    m[22] = attrLen & 0xff;
    let off = attrHeader(m, FIXED, ATTR.MP_UNREACH_NLRI, valueLen);
    m[off++] = afi >>> 8;
    m[off++] = afi & 0xff;
    m[off++] = safi;
    m.set(body, off);
    out.push(m);
  }
  return out;
}
