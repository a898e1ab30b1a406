// IP addresses and prefixes as bytes: parsing the speaker's strings for encoding and printing
// decoded bytes as canonical text (dotted quad; IPv6 per RFC 5952). The text rules are
// core/ip.ts's (parseQuad, parseIpv6Words, formatIpv6Words); this file keeps the codec off
// bigints.
import { formatIpv6Words, parseIpv6Words, parseQuad } from '../../../core/ip.js';

/** A prefix as the wire carries it: address bytes (4 or 16, host bits zero) and length. */
export interface PrefixBytes {
  readonly v6: boolean;
  readonly len: number;
  readonly addr: Uint8Array;
}

/** Parses a dotted quad (no leading zeros) into `out` at `off`; false when it is not one. */
export function quadInto(
  s: string,
  from: number,
  to: number,
  out: Uint8Array,
  off: number,
): boolean {
  const v = parseQuad(s, from, to);
  if (v === undefined) return false;
  out[off] = v >>> 24;
  out[off + 1] = (v >>> 16) & 0xff;
  out[off + 2] = (v >>> 8) & 0xff;
  out[off + 3] = v & 0xff;
  return true;
}

/** The 4 bytes of an IPv4 address; undefined when `s` is not one. */
export function parseIpv4(s: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  return quadInto(s, 0, s.length, out, 0) ? out : undefined;
}

/** The 16 bytes of an IPv6 address (RFC 4291 §2.2 text, no zone); undefined when `s` is not one. */
export function parseIpv6(s: string): Uint8Array | undefined {
  const words = parseIpv6Words(s);
  if (!words) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i] ?? 0;
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  }
  return out;
}

/** Formats 4 bytes at `off` as a dotted quad. */
export function formatIpv4(b: Uint8Array, off = 0): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

/** Formats 16 bytes at `off` as IPv6 text (RFC 5952: lowercase, longest zero run of 2+ as '::'). */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const w = FORMAT_WORDS;
  for (let i = 0; i < 8; i++) w[i] = ((b[off + 2 * i] ?? 0) << 8) | (b[off + 2 * i + 1] ?? 0);
  return formatIpv6Words(w);
}

const FORMAT_WORDS = new Uint16Array(8);

/** Zeroes the bits of `addr` past `len` (RFC 4271 §4.3: host bits are ignored). */
function mask(addr: Uint8Array, len: number): void {
  for (let i = 0; i < addr.length; i++) {
    const keep = len - i * 8;
    if (keep >= 8) continue;
    addr[i] = keep <= 0 ? 0 : (addr[i] ?? 0) & (0xff << (8 - keep));
  }
}

/** Parses 'addr/len' (host bits masked off); undefined when it is not a prefix. */
export function parsePrefix(s: string): PrefixBytes | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const lenText = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const len = Number(lenText);
  const a = s.slice(0, slash);
  const v6 = a.includes(':');
  const addr = v6 ? parseIpv6(a) : parseIpv4(a);
  if (!addr || len > addr.length * 8) return undefined;
  mask(addr, len);
  return { v6, len, addr };
}

/** Formats a prefix from its NLRI bytes (`n` = ceil(len/8) bytes at `off`), host bits masked. */
export function formatNlri(v6: boolean, len: number, b: Uint8Array, off: number): string {
  const n = (len + 7) >>> 3;
  const keep = len & 7;
  const byte = (i: number): number => {
    if (i >= n) return 0;
    const v = b[off + i] ?? 0;
    return i === n - 1 && keep ? v & (0xff << (8 - keep)) & 0xff : v;
  };
  if (!v6) return `${byte(0)}.${byte(1)}.${byte(2)}.${byte(3)}/${len}`;
  const w = FORMAT_WORDS;
  for (let i = 0; i < 8; i++) w[i] = (byte(2 * i) << 8) | byte(2 * i + 1);
  return `${formatIpv6Words(w)}/${len}`;
}

/** The NLRI encoding of a prefix (RFC 4271 §4.3): length byte, then ceil(len/8) bytes. */
export function nlriBytes(p: PrefixBytes): Uint8Array {
  const n = (p.len + 7) >>> 3;
  const out = new Uint8Array(1 + n);
  out[0] = p.len;
  out.set(p.addr.subarray(0, n), 1);
  return out;
}

/** The canonical text of a prefix ('10.1.0.0/24', 'fd00::/64'); throws naming a bad one. */
export function canonicalPrefix(s: string): string {
  const p = parsePrefix(s);
  if (!p) throw new RangeError(`'${s}' is not an IP prefix (addr/len)`);
  return `${p.v6 ? formatIpv6(p.addr) : formatIpv4(p.addr)}/${p.len}`;
}
