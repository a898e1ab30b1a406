// Packing many routes into few UPDATEs: routes with the same attributes and next hop share
// messages, each filled up to 4096 bytes (RFC 4271 §4.3; RFC 4760 for IPv6).
import { Buffer } from 'node:buffer';
import { ATTR, FLAG } from './attr-codes.js';
import { encodeAttrs, nextHopField } from './attrs-encode.js';
import { codesOf } from './family.js';
import { writeNlri } from './nlri-writer.js';
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

/** Encoded prefixes back to back, with where each ends: no allocation per prefix. */
class NlriRun {
  buf = new Uint8Array(1024);
  ends: number[] = [];
  length = 0;

  constructor(private readonly family: Family) {}

  /** Appends a prefix; throws naming one that is not a prefix of the family. */
  add(prefix: string): void {
    if (this.length + 17 > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    let n = writeNlri(prefix, this.family === 'ipv6-unicast', this.buf, this.length);
    if (n < 0) {
      const b = encodePrefix(prefix, this.family); // throws with the reason
      this.buf.set(b, this.length);
      n = b.length;
    }
    this.length += n;
    this.ends.push(this.length);
  }

  /** Splits the prefixes into [start, end) byte ranges that fit `room`. */
  chunks(room: number): [number, number][] {
    const out: [number, number][] = [];
    let start = 0;
    let prev = 0;
    for (const end of this.ends) {
      if (end - start > room) {
        out.push([start, prev]);
        start = prev;
      }
      prev = end;
    }
    if (prev > start) out.push([start, prev]);
    return out;
  }
}

function checkRoom(room: number, what: string): void {
  if (room < 17) throw new RangeError(`${what} leave no room for a prefix in a 4096-byte UPDATE`);
}

/** One IPv4 group: NEXT_HOP among the attributes, prefixes in the NLRI field. */
function packIpv4(attrs: Uint8Array, nlri: NlriRun, out: Uint8Array[]): void {
  const room = MAX_MESSAGE - FIXED - attrs.length;
  checkRoom(room, `path attributes of ${attrs.length} bytes`);
  for (const [from, to] of nlri.chunks(room)) {
    const m = message(FIXED + attrs.length + to - from);
    m[21] = attrs.length >>> 8;
    m[22] = attrs.length & 0xff;
    m.set(attrs, FIXED);
    m.set(nlri.buf.subarray(from, to), FIXED + attrs.length);
    out.push(m);
  }
}

/** One IPv6 group: MP_REACH_NLRI (first, RFC 7606 §5.1) with the next hop and prefixes. */
function packIpv6(attrs: Uint8Array, nh: Uint8Array, nlri: NlriRun, out: Uint8Array[]): void {
  const mpFixed = 5 + nh.length;
  const room = MAX_MESSAGE - FIXED - attrs.length - MP_HDR - mpFixed;
  checkRoom(room, `path attributes of ${attrs.length} bytes`);
  const { afi, safi } = codesOf('ipv6-unicast');
  for (const [from, to] of nlri.chunks(room)) {
    const valueLen = mpFixed + to - from;
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
    m.set(nlri.buf.subarray(from, to), off);
    m.set(attrs, off + to - from);
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
  // Routes usually share attribute objects: encode each object once, group by the bytes.
  const keys = new Map<PathAttrs, string>();
  const groups = new Map<string, Map<string, { attrs: PathAttrs; nlri: NlriRun }>>();
  for (const r of routes) {
    let key = keys.get(r.attrs);
    if (key === undefined) {
      key = Buffer.from(concat(encodeAttrs({ ...r.attrs, nextHop: undefined }, ctx))).toString(
        'latin1',
      );
      keys.set(r.attrs, key);
    }
    let byHop = groups.get(key);
    if (!byHop) groups.set(key, (byHop = new Map<string, { attrs: PathAttrs; nlri: NlriRun }>()));
    let g = byHop.get(r.nextHop);
    if (!g) byHop.set(r.nextHop, (g = { attrs: r.attrs, nlri: new NlriRun(family) }));
    g.nlri.add(r.prefix);
  }
  const out: Uint8Array[] = [];
  for (const byHop of groups.values()) {
    for (const [nextHop, g] of byHop) {
      if (family === 'ipv6-unicast') {
        const attrs = concat(encodeAttrs({ ...g.attrs, nextHop: undefined }, ctx));
        packIpv6(attrs, nextHopField(family, nextHop), g.nlri, out);
      } else {
        nextHopField(family, nextHop); // names a next hop that is not IPv4
        packIpv4(concat(encodeAttrs({ ...g.attrs, nextHop }, ctx)), g.nlri, out);
      }
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
  const nlri = new NlriRun(family);
  for (const p of prefixes) nlri.add(p);
  const out: Uint8Array[] = [];
  if (family === 'ipv4-unicast') {
    for (const [from, to] of nlri.chunks(MAX_MESSAGE - FIXED)) {
      const m = message(FIXED + to - from);
      m[19] = (to - from) >>> 8;
      m[20] = (to - from) & 0xff;
      m.set(nlri.buf.subarray(from, to), 21); // the attribute length after it stays 0
      out.push(m);
    }
    return out;
  }
  for (const [from, to] of nlri.chunks(MAX_MESSAGE - FIXED - MP_HDR - 3)) {
    const valueLen = 3 + to - from;
    const attrLen = (valueLen > 255 ? 4 : 3) + valueLen;
    const m = message(FIXED + attrLen);
    m[21] = attrLen >>> 8;
    m[22] = attrLen & 0xff;
    let off = attrHeader(m, FIXED, ATTR.MP_UNREACH_NLRI, valueLen);
    m[off++] = afi >>> 8;
    m[off++] = afi & 0xff;
    m[off++] = safi;
    m.set(nlri.buf.subarray(from, to), off);
    out.push(m);
  }
  return out;
}
