// Path attributes as `cellium bgp routes` prints them (GoBGP's and cilium-dbg's style:
// `{Origin: i} {AsPath: 65001} {Nexthop: 10.0.0.1}`), read from the API's base64 encodings.
import { formatIp } from '../../../core/ip.js';

function ipv4(b: Uint8Array, off: number): string {
  return [...b.subarray(off, off + 4)].join('.');
}

function ipv6(b: Uint8Array, off: number): string {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return formatIp('ipv6', v);
}

function u32s(v: Uint8Array): number[] {
  const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(view.getUint32(i));
  return out;
}

/**
 * An AS_PATH's ASNs read with `width`-octet ASNs, or undefined when the segments do not add up
 * (the API has the attribute as sent: 2-octet on a session without the 4-octet capability).
 */
function asPath(v: Uint8Array, width: 2 | 4): number[] | undefined {
  const asns: number[] = [];
  let i = 0;
  while (i < v.length) {
    const n = v[i + 1];
    if (n === undefined || i + 2 + n * width > v.length) return undefined;
    for (let k = 0; k < n; k++) {
      const at = i + 2 + k * width;
      asns.push(
        width === 4
          ? (u32s(v.subarray(at, at + 4))[0] ?? 0)
          : ((v[at] ?? 0) << 8) | (v[at + 1] ?? 0),
      );
    }
    i += 2 + n * width;
  }
  return asns;
}

/** One attribute (flags, code, length, value) as text; unknown codes by number. */
export function attrText(b: Uint8Array): string {
  if (b.length < 3) return '{?}';
  const ext = ((b[0] ?? 0) & 0x10) !== 0;
  const code = b[1] ?? 0;
  const v = b.subarray(ext ? 4 : 3);
  switch (code) {
    case 1:
      return `{Origin: ${['i', 'e', '?'][v[0] ?? 2] ?? '?'}}`;
    case 2:
      return `{AsPath: ${(asPath(v, 4) ?? asPath(v, 2) ?? []).join(' ')}}`;
    case 3:
      return `{Nexthop: ${ipv4(v, 0)}}`;
    case 4:
      return `{Med: ${u32s(v)[0] ?? 0}}`;
    case 5:
      return `{LocalPref: ${u32s(v)[0] ?? 0}}`;
    case 8:
      return `{Communities: ${u32s(v)
        .map((c) => `${c >>> 16}:${c & 0xffff}`)
        .join(', ')}}`;
    case 14: {
      const len = v[3] ?? 0;
      const hop = len === 4 ? ipv4(v, 4) : len >= 16 ? ipv6(v, 4) : '';
      return `{MpReach(${v[1] === 2 ? 'ipv6' : 'ipv4'}-unicast): {Nexthop: ${hop}}}`;
    }
    case 32: {
      const n = u32s(v);
      const out: string[] = [];
      for (let i = 0; i + 3 <= n.length; i += 3) out.push(`${n[i]}:${n[i + 1]}:${n[i + 2]}`);
      return `{LargeCommunity: ${out.join(', ')}}`;
    }
    default:
      return `{Attr(${code}): ${Buffer.from(v).toString('hex')}}`;
  }
}

/** The next hop a path carries (NEXT_HOP, or MP_REACH_NLRI's), '' when none. */
export function nextHopOf(attrs: readonly Uint8Array[]): string {
  for (const a of attrs) {
    const t = attrText(a);
    const m = /Nexthop: ([^}]*)\}/.exec(t);
    if (m?.[1] !== undefined && m[1] !== '') return m[1];
  }
  return '';
}
