// NLRI fields (RFC 4271 §4.3, RFC 4760 §5): a run of (length, prefix bytes) pairs.
import { formatNlri, nlriBytes, parsePrefix } from './addr.js';
import type { Family } from './types.js';

/** A decoded NLRI field, or what made it syntactically incorrect (RFC 7606 §5.3). */
export type NlriResult =
  { readonly prefixes: string[]; readonly bad?: undefined } | { readonly bad: string };

/** Decodes the prefixes in `b[from, to)`; a length over 32/128 or a prefix past the end is bad. */
export function decodeNlri(b: Uint8Array, from: number, to: number, v6: boolean): NlriResult {
  const max = v6 ? 128 : 32;
  const prefixes: string[] = [];
  let pos = from;
  while (pos < to) {
    const len = b[pos] ?? 0;
    if (len > max) return { bad: `prefix length ${len} > ${max}` };
    const n = (len + 7) >>> 3;
    if (pos + 1 + n > to) return { bad: `prefix /${len} runs past the end of the field` };
    prefixes.push(formatNlri(v6, len, b, pos + 1));
    pos += 1 + n;
  }
  return { prefixes };
}

/** The NLRI bytes of a prefix of the family; throws naming a prefix that is not one. */
export function encodePrefix(prefix: string, family: Family): Uint8Array {
  const p = parsePrefix(prefix);
  if (!p) throw new RangeError(`'${prefix}' is not an IP prefix (addr/len)`);
  if (p.v6 !== (family === 'ipv6-unicast')) {
    throw new RangeError(`prefix ${prefix} is not of family ${family}`);
  }
  return nlriBytes(p);
}
