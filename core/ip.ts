import { isIPv4 } from 'node:net';

/** An address family. */
export type Family = 'ipv4' | 'ipv6';

/**
 * Whether `s` is an IPv6 address in text (RFC 4291 2.2: eight groups of 1-4 hex digits, one
 * `::` for a run of zero groups, an IPv4 address as the last 32 bits), without a zone. What
 * node:net's isIPv6 says for such text (a test holds them together), without compiling its
 * regular expression, which is ~3 ms of the first call and so of every start.
 */
export function isIPv6Address(s: string): boolean {
  return parseIpv6Words(s) !== undefined;
}

/** Hex groups `s[from, to)` separated by ':' (an IPv4 tail allowed) as 16-bit words. */
function hexGroups(s: string, from: number, to: number, tailV4: boolean): number[] | undefined {
  const words: number[] = [];
  if (from === to) return words;
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && s.charCodeAt(i) !== 58) continue;
    if (tailV4 && i === to && s.lastIndexOf('.', to - 1) >= start) {
      // Only the very end of the text may be an IPv4 address (not before a trailing `::`).
      const q = parseQuad(s, start, i);
      if (q === undefined) return undefined;
      words.push(q >>> 16, q & 0xffff);
    } else {
      if (i - start < 1 || i - start > 4) return undefined;
      let v = 0;
      for (let k = start; k < i; k++) {
        const c = s.charCodeAt(k);
        const d =
          c >= 48 && c <= 57
            ? c - 48
            : c >= 97 && c <= 102
              ? c - 87
              : c >= 65 && c <= 70
                ? c - 55
                : -1;
        if (d < 0) return undefined;
        v = v * 16 + d;
      }
      words.push(v);
    }
    start = i + 1;
  }
  return words;
}

/**
 * The eight 16-bit words of an IPv6 address in text (as isIPv6Address accepts it, no zone);
 * undefined when `s` is not one. The BGP codec makes its bytes from these.
 */
export function parseIpv6Words(s: string): number[] | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  const gap = s.indexOf('::');
  if (gap < 0) {
    const all = hexGroups(s, 0, s.length, true);
    return all?.length === 8 ? all : undefined;
  }
  if (s.indexOf('::', gap + 1) >= 0) return undefined;
  const head = hexGroups(s, 0, gap, false);
  const tail = hexGroups(s, gap + 2, s.length, true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** Parses an IP to a bigint and its family; undefined when it is not an IP. */
export function parseIp(
  ip: string,
): { readonly family: Family; readonly value: bigint } | undefined {
  if (isIPv4(ip)) {
    const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
    return { family: 'ipv4', value: BigInt(((a << 24) >>> 0) + (b << 16) + (c << 8) + d) };
  }
  // A zone (`fe80::1%eth0`) names a link, not an address: never a pod's IP.
  const words = parseIpv6Words(ip);
  if (!words) return undefined;
  let value = 0n;
  for (const w of words) value = (value << 16n) + BigInt(w);
  return { family: 'ipv6', value };
}

/** Formats a bigint as an IP of the family (IPv6 in its shortest form). */
export function formatIp(family: Family, value: bigint): string {
  if (family === 'ipv4') {
    const n = Number(value);
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }
  const w = new Uint16Array(8);
  for (let i = 0; i < 8; i++) w[i] = Number((value >> BigInt((7 - i) * 16)) & 0xffffn);
  return formatIpv6Words(w);
}

/**
 * RFC 5952 text of an IPv6 address's eight 16-bit words: lowercase hex, the first longest run
 * of two or more zero words as `::`. Shared with the BGP codec, which has the words from bytes.
 */
export function formatIpv6Words(w: ArrayLike<number>): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (w[i] ?? 0).toString(16);
  }
  return out;
}

/**
 * The four bytes (as one number) of a canonical dotted quad in `ip[from, to)` (`10.0.0.1`, no
 * leading zeros), parsed by hand: map keys are written by the hundred thousand, and this is most
 * of them; the BGP codec reads its prefixes with it too. Anything else: undefined.
 */
export function parseQuad(ip: string, from = 0, to = ip.length): number | undefined {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // a leading zero
      part = part * 10 + (c - 48);
      if (part > 255 || ++digits > 3) return undefined;
    } else return undefined;
  }
  return dots === 3 && digits > 0 ? v * 256 + part : undefined;
}

/** Writes an IP in network order: 4 bytes, or 16 (IPv4 in the first 4, the rest zero). */
export function writeIpBytes(ip: string, buf: Buffer, off: number, width: 4 | 16): void {
  const q = parseQuad(ip);
  if (q !== undefined) {
    if (width === 16) buf.fill(0, off + 4, off + 16);
    buf.writeUInt32BE(q, off);
    return;
  }
  const p = parseIp(ip);
  if (!p || (width === 4 && p.family !== 'ipv4')) {
    throw new Error(`'${ip}' is not an ${width === 4 ? 'IPv4' : 'IP'} address`);
  }
  if (width === 16) buf.fill(0, off, off + 16);
  const n = p.family === 'ipv4' ? 4 : 16;
  for (let i = n - 1, v = p.value; i >= 0; i--, v >>= 8n) buf[off + i] = Number(v & 0xffn);
}

/** Reads an IP of the family from network-order bytes. */
export function readIpBytes(family: Family, buf: Buffer, off: number): string {
  if (family === 'ipv4') {
    return `${buf[off] ?? 0}.${buf[off + 1] ?? 0}.${buf[off + 2] ?? 0}.${buf[off + 3] ?? 0}`;
  }
  const n = 16;
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
  return formatIp(family, v);
}
