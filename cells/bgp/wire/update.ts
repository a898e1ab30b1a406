// UPDATE (RFC 4271 §4.3): decoding with RFC 7606 error handling, encoding, End-of-RIB.
import { ATTR, attrName } from './attr-codes.js';
import { decodeAttrs } from './attrs-decode.js';
import { encodeAttrs, encodeMpReach, encodeMpUnreach } from './attrs-encode.js';
import { u16At, Writer } from './bytes.js';
import { u16Data, wireError } from './errors.js';
import { frame } from './frame.js';
import { decodeNlri, encodePrefix } from './nlri.js';
import {
  ERR,
  HEADER_LEN,
  MSG,
  type Decoded,
  type Family,
  type PathAttrs,
  type UpdateMsg,
  type WireContext,
} from './types.js';

/** Decodes an UPDATE body; see Decoded for what ok, treatAsWithdraw and discarded mean. */
export function decodeUpdate(body: Uint8Array, ctx: WireContext): Decoded {
  if (body.length < 4) {
    const len = HEADER_LEN + body.length;
    return { ok: false, error: wireError(ERR.HEADER, 2, `UPDATE length ${len}`, u16Data(len)) };
  }
  const wLen = u16At(body, 0);
  if (2 + wLen + 2 > body.length) {
    const reason = `withdrawn routes length ${wLen} exceeds the message`;
    return { ok: false, error: wireError(ERR.UPDATE, 1, reason) };
  }
  const aFrom = 4 + wLen;
  const aLen = u16At(body, 2 + wLen);
  if (aFrom + aLen > body.length) {
    const reason = `total path attribute length ${aLen} exceeds the message`;
    return { ok: false, error: wireError(ERR.UPDATE, 1, reason) };
  }
  const withdrawn = decodeNlri(body, 2, 2 + wLen, false);
  if (withdrawn.bad !== undefined) {
    return { ok: false, error: wireError(ERR.UPDATE, 10, `withdrawn routes: ${withdrawn.bad}`) };
  }
  const r = decodeAttrs(body, aFrom, aFrom + aLen, ctx);
  if (r.fatal) return { ok: false, error: r.fatal };
  const nlri = decodeNlri(body, aFrom + aLen, body.length, false);
  if (nlri.bad !== undefined) {
    return { ok: false, error: wireError(ERR.UPDATE, 10, `NLRI: ${nlri.bad}`) };
  }
  // RFC 7606 §3(d): a missing well-known mandatory attribute withdraws what the UPDATE
  // announces; nothing is mandatory when it announces nothing.
  const announces = nlri.prefixes.length > 0 || (r.mpReach?.nlri.length ?? 0) > 0;
  // RFC 7606 §5.2: with nothing announced, treat-as-withdraw cannot be told from a parse
  // gone wrong, so those errors reset the session.
  if (r.withdraw && !announces) return { ok: false, error: r.withdraw };
  let withdraw = r.withdraw?.reason;
  if (nlri.prefixes.length > 0 && r.badNextHop !== undefined) withdraw ??= r.badNextHop;
  if (announces) {
    const mandatory: number[] = [ATTR.ORIGIN, ATTR.AS_PATH];
    if (nlri.prefixes.length > 0) mandatory.push(ATTR.NEXT_HOP);
    if (ctx.ibgp) mandatory.push(ATTR.LOCAL_PREF);
    const missing = mandatory.find((c) => !r.present.has(c));
    if (missing !== undefined) withdraw ??= `missing ${attrName(missing)}`;
  }
  let attrs: PathAttrs | undefined;
  if (announces) {
    // Absent or malformed ORIGIN / AS_PATH already withdraw the routes: these fill the shape.
    const { origin = 2, asPath = [], ...rest } = r.attrs;
    attrs = { origin, asPath, ...rest };
  }
  const msg: UpdateMsg = {
    type: 'update',
    withdrawn: withdrawn.prefixes,
    nlri: nlri.prefixes,
    ...(attrs && { attrs }),
    ...(r.mpReach && { mpReach: r.mpReach }),
    ...(r.mpUnreach && { mpUnreach: r.mpUnreach }),
  };
  return {
    ok: true,
    msg,
    ...(withdraw !== undefined && { treatAsWithdraw: withdraw }),
    ...(r.discarded.length > 0 && { discarded: r.discarded }),
  };
}

/**
 * Encodes an UPDATE: MP_UNREACH_NLRI and MP_REACH_NLRI first (RFC 7606 §5.1), then the
 * other attributes in code order. IPv4 NLRI needs `attrs.nextHop`. Throws a RangeError
 * naming what is wrong, or when the message would exceed 4096 bytes. It encodes whatever
 * combination it is given (tests play old speakers with it); what the speaker sends goes
 * through packUpdates / packWithdrawals / encodeEndOfRib, one kind of field per message as
 * RFC 7606 §5.1 asks of senders.
 */
export function encodeUpdate(u: Omit<UpdateMsg, 'type'>, ctx: WireContext): Uint8Array {
  if (u.nlri.length > 0 && u.attrs?.nextHop === undefined) {
    throw new RangeError('an UPDATE with IPv4 NLRI needs attrs with a nextHop');
  }
  if (u.mpReach?.nlri.length && !u.attrs) {
    throw new RangeError('an UPDATE announcing MP_REACH_NLRI prefixes needs attrs');
  }
  const w = new Writer(512);
  const withdrawn = new Writer();
  for (const p of u.withdrawn) withdrawn.bytes(encodePrefix(p, 'ipv4-unicast'));
  w.u16(withdrawn.length).bytes(withdrawn.done());
  const lenAt = w.length;
  w.u16(0);
  if (u.mpUnreach) w.bytes(encodeMpUnreach(u.mpUnreach));
  if (u.mpReach) w.bytes(encodeMpReach(u.mpReach));
  if (u.attrs) for (const a of encodeAttrs(u.attrs, ctx)) w.bytes(a);
  const attrLen = w.length - lenAt - 2;
  if (attrLen > 0xffff) throw new RangeError(`path attributes of ${attrLen} bytes`);
  w.setU16(lenAt, attrLen);
  for (const p of u.nlri) w.bytes(encodePrefix(p, 'ipv4-unicast'));
  return frame(MSG.UPDATE, w.done());
}

/** The End-of-RIB marker of a family (RFC 4724 §2): an empty UPDATE, or an empty MP_UNREACH_NLRI. */
export function encodeEndOfRib(family: Family): Uint8Array {
  if (family === 'ipv4-unicast') return frame(MSG.UPDATE, new Uint8Array(4));
  return frame(
    MSG.UPDATE,
    new Writer(10)
      .u16(0)
      .u16(6)
      .bytes(encodeMpUnreach({ family, withdrawn: [] }))
      .done(),
  );
}

/** The family a decoded UPDATE is the End-of-RIB marker of (RFC 4724 §2), if it is one. */
export function endOfRibFamily(u: UpdateMsg): Family | undefined {
  if (u.withdrawn.length > 0 || u.nlri.length > 0 || u.attrs || u.mpReach) return undefined;
  if (!u.mpUnreach) return 'ipv4-unicast';
  return u.mpUnreach.withdrawn.length === 0 ? u.mpUnreach.family : undefined;
}
