// The small messages: KEEPALIVE, NOTIFICATION (RFC 4271 §4.4, §4.5) and ROUTE-REFRESH (RFC 2918).
import { checkUint, Writer } from './bytes.js';
import { u16Data, wireError } from './errors.js';
import { codesOf, familyOf } from './family.js';
import { frame } from './frame.js';
import { ERR, HEADER_LEN, MSG, type Decoded, type Family } from './types.js';

/** The bad-length error for a body of a type that has a fixed or minimum size. */
function badLength(what: string, body: Uint8Array): Decoded {
  const len = HEADER_LEN + body.length;
  return { ok: false, error: wireError(ERR.HEADER, 2, `${what} length ${len}`, u16Data(len)) };
}

/** Decodes a KEEPALIVE body (which must be empty). */
export function decodeKeepalive(body: Uint8Array): Decoded {
  if (body.length !== 0) return badLength('KEEPALIVE', body);
  return { ok: true, msg: { type: 'keepalive' } };
}

/** Decodes a NOTIFICATION body: code, subcode, data. */
export function decodeNotification(body: Uint8Array): Decoded {
  if (body.length < 2) return badLength('NOTIFICATION', body);
  const msg = {
    type: 'notification' as const,
    code: body[0] ?? 0,
    subcode: body[1] ?? 0,
    data: body.slice(2),
  };
  return { ok: true, msg };
}

/** Decodes a ROUTE-REFRESH body: AFI, subtype (RFC 7313), SAFI. */
export function decodeRouteRefresh(body: Uint8Array): Decoded {
  if (body.length !== 4) return badLength('ROUTE-REFRESH', body);
  const afi = ((body[0] ?? 0) << 8) | (body[1] ?? 0);
  const subtype = body[2] ?? 0;
  const safi = body[3] ?? 0;
  const family = familyOf(afi, safi);
  return { ok: true, msg: { type: 'route-refresh', afi, safi, subtype, family } };
}

const KEEPALIVE = frame(MSG.KEEPALIVE, new Uint8Array(0));

/** Encodes a KEEPALIVE (a fresh copy each call: callers may hand it to a socket). */
export function encodeKeepalive(): Uint8Array {
  return KEEPALIVE.slice();
}

/** Encodes a NOTIFICATION. */
export function encodeNotification(
  code: number,
  subcode: number,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const w = new Writer(2 + data.length)
    .u8(checkUint('error code', code, 255))
    .u8(checkUint('error subcode', subcode, 255))
    .bytes(data);
  return frame(MSG.NOTIFICATION, w.done());
}

/** Encodes a ROUTE-REFRESH for a family (subtype 0: a normal request). */
export function encodeRouteRefresh(family: Family, subtype = 0): Uint8Array {
  const { afi, safi } = codesOf(family);
  return frame(
    MSG.ROUTE_REFRESH,
    new Writer(4)
      .u16(afi)
      .u8(checkUint('subtype', subtype, 255))
      .u8(safi)
      .done(),
  );
}
