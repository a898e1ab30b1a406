// Prefix text straight to NLRI bytes, without allocating: the packer encodes tens of
// thousands of prefixes per burst. Agrees with addr.ts (a test holds them together).
import { parseIpv6, quadInto } from './addr.js';

/** Parses hex digit `c` (a char code); -1 when it is not one. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Writes the NLRI encoding of prefix text into `out` at `off` without allocating (the packer
 * encodes tens of thousands); returns the bytes written, or -1 when `s` is not a prefix of
 * the family. Text with an embedded IPv4 tail takes the general parser.
 */
export function writeNlri(s: string, v6: boolean, out: Uint8Array, off: number): number {
  const slash = s.indexOf('/');
  if (slash < 1 || slash === s.length - 1 || s.length - slash > 4) return -1;
  let len = 0;
  for (let i = slash + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57 || (i === slash + 1 && c === 48 && s.length - slash > 2)) return -1;
    len = len * 10 + (c - 48);
  }
  if (len > (v6 ? 128 : 32)) return -1;
  const addr = v6 ? ipv6Scratch(s, slash) : ipv4Scratch(s, slash);
  if (!addr) return -1;
  const n = (len + 7) >>> 3;
  out[off] = len;
  for (let i = 0; i < n; i++) out[off + 1 + i] = addr[i] ?? 0;
  const keep = len & 7;
  if (keep) out[off + n] = (out[off + n] ?? 0) & (0xff << (8 - keep));
  return 1 + n;
}

const SCRATCH4 = new Uint8Array(4);
const SCRATCH16 = new Uint8Array(16);

function ipv4Scratch(s: string, to: number): Uint8Array | undefined {
  return quadInto(s, 0, to, SCRATCH4, 0) ? SCRATCH4 : undefined;
}

/** Parses `s[0, to)` as IPv6 into a shared scratch buffer. */
function ipv6Scratch(s: string, to: number): Uint8Array | undefined {
  const words = WORDS;
  let n = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < to) {
    let v = 0;
    let digits = 0;
    for (; i < to; i++) {
      const c = s.charCodeAt(i);
      if (c === 46) return ipv6Slow(s, to); // an IPv4 tail
      const d = hexDigit(c);
      if (d < 0) break;
      if (++digits > 4) return undefined;
      v = v * 16 + d;
    }
    if (digits === 0 || n === 8) return undefined;
    words[n++] = v;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    if (s.charCodeAt(i) === 58 && i < to) {
      if (gap >= 0) return undefined;
      gap = n;
      i++;
    } else if (i === to) return undefined; // a single trailing ':'
  }
  if (gap < 0 ? n !== 8 : n > 7) return undefined;
  const out = SCRATCH16;
  out.fill(0);
  const tail = gap < 0 ? 0 : n - gap;
  for (let k = 0; k < n; k++) {
    const at = gap < 0 || k < gap ? k : 8 - tail + (k - gap);
    out[2 * at] = (words[k] ?? 0) >>> 8;
    out[2 * at + 1] = (words[k] ?? 0) & 0xff;
  }
  return out;
}

const WORDS = new Uint16Array(8);

function ipv6Slow(s: string, to: number): Uint8Array | undefined {
  const b = parseIpv6(s.slice(0, to));
  if (!b) return undefined;
  SCRATCH16.set(b);
  return SCRATCH16;
}
