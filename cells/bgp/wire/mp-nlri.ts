// Decoding MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4).
import { formatIpv4, formatIpv6 } from './addr.js';
import { Cursor } from './bytes.js';
import { familyOf } from './family.js';
import { decodeNlri } from './nlri.js';
import type { MpReach, MpUnreach } from './types.js';

/** An MP attribute, or what was malformed, or why it was ignored (a family not carried). */
type Mp<T> = T | { readonly bad: string } | { readonly ignored: string };

/** Decodes an MP_REACH_NLRI value. */
export function decodeMpReach(v: Uint8Array): Mp<MpReach> {
  const c = new Cursor(v);
  if (!c.has(5)) return { bad: `length ${v.length}` };
  const afi = c.u16();
  const safi = c.u8();
  const nhLen = c.u8();
  if (!c.has(nhLen + 1)) return { bad: `next hop length ${nhLen} runs past the attribute` };
  const nh = c.bytes(nhLen);
  c.u8(); // reserved
  const family = familyOf(afi, safi);
  // RFC 4760 §7 / RFC 7606 §7.11: a family we did not negotiate is not ours to judge; skip it.
  if (!family) return { ignored: `AFI ${afi} SAFI ${safi} not carried` };
  let nextHops: string[];
  if (family === 'ipv4-unicast') {
    if (nhLen !== 4) return { bad: `IPv4 next hop length ${nhLen}` };
    nextHops = [formatIpv4(nh)];
  } else {
    if (nhLen !== 16 && nhLen !== 32) return { bad: `IPv6 next hop length ${nhLen}` };
    nextHops = nhLen === 16 ? [formatIpv6(nh)] : [formatIpv6(nh), formatIpv6(nh, 16)];
  }
  const nlri = decodeNlri(v, c.pos, v.length, family === 'ipv6-unicast');
  if (nlri.bad !== undefined) return { bad: `NLRI ${nlri.bad}` };
  return { family, nextHops, nlri: nlri.prefixes };
}

/** Decodes an MP_UNREACH_NLRI value. */
export function decodeMpUnreach(v: Uint8Array): Mp<MpUnreach> {
  const c = new Cursor(v);
  if (!c.has(3)) return { bad: `length ${v.length}` };
  const afi = c.u16();
  const safi = c.u8();
  const family = familyOf(afi, safi);
  if (!family) return { ignored: `AFI ${afi} SAFI ${safi} not carried` };
  const w = decodeNlri(v, c.pos, v.length, family === 'ipv6-unicast');
  if (w.bad !== undefined) return { bad: `withdrawn routes ${w.bad}` };
  return { family, withdrawn: w.prefixes };
}
