// The router's own routes as GET /bgp/routes loc-rib shows them (Cilium's "available"): what
// it originates, encoded as it would send them (NLRI and each path attribute, base64 in the API).
import { parseIp } from '../../core/ip.js';
import type { Exported } from './advertise.js';

/** RFC 4271 §4.3 NLRI: length in bits, then the prefix's significant bytes. */
export function encodeNlri(prefix: string): Uint8Array {
  const [ip = '', lenText = '0'] = prefix.split('/');
  const p = parseIp(ip);
  const len = Number(lenText);
  const width = p?.family === 'ipv6' ? 16 : 4;
  const bytes = new Uint8Array(1 + Math.ceil(len / 8));
  bytes[0] = len;
  const v = p?.value ?? 0n;
  for (let i = 0; i < bytes.length - 1; i++) {
    bytes[1 + i] = Number((v >> BigInt(8 * (width - 1 - i))) & 0xffn);
  }
  return bytes;
}

function attr(flags: number, code: number, value: Uint8Array): Uint8Array {
  const ext = value.length > 255;
  const head = ext
    ? [flags | 0x10, code, value.length >> 8, value.length & 0xff]
    : [flags, code, value.length];
  return Uint8Array.from([...head, ...value]);
}

function u32s(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const view = new DataView(b.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0));
  return b;
}

/**
 * The path attributes of an originated route, in code order: ORIGIN IGP, an empty AS_PATH (the
 * router's ASN is prepended per eBGP session), NEXT_HOP (IPv4), LOCAL_PREF, COMMUNITIES,
 * MP_REACH_NLRI (IPv6: next hop and NLRI), LARGE_COMMUNITY.
 */
export function encodeLocalAttrs(r: Exported): Uint8Array[] {
  const out = [attr(0x40, 1, Uint8Array.of(0)), attr(0x40, 2, new Uint8Array(0))];
  const v6 = r.prefix.includes(':');
  const hop = r.nextHop !== undefined ? parseIp(r.nextHop) : undefined;
  if (!v6 && hop) out.push(attr(0x40, 3, u32s([Number(hop.value)])));
  if (r.localPref !== undefined) out.push(attr(0x40, 5, u32s([r.localPref])));
  if (r.communities.length > 0) out.push(attr(0xc0, 8, u32s(r.communities)));
  if (v6) {
    const nh = new Uint8Array(16);
    for (let i = 0; i < 16; i++)
      nh[i] = Number(((hop?.value ?? 0n) >> BigInt(8 * (15 - i))) & 0xffn);
    const nlri = encodeNlri(r.prefix);
    out.push(
      attr(0x80, 14, Uint8Array.from([0, 2, 1, hop ? 16 : 0, ...(hop ? nh : []), 0, ...nlri])),
    );
  }
  if (r.largeCommunities.length > 0) out.push(attr(0xc0, 32, u32s(r.largeCommunities.flat())));
  return out;
}
