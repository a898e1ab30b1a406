// decodeMessage: one message body to a Message or the NOTIFICATION to send; never throws.
import { decodeKeepalive, decodeNotification, decodeRouteRefresh } from './control.js';
import { wireError } from './errors.js';
import { decodeOpen } from './open.js';
import { ERR, MSG, type Decoded, type WireContext } from './types.js';
import { decodeUpdate } from './update.js';

/** Decodes the body of a message of `type` as the session's context says. */
export function decodeMessage(type: number, body: Uint8Array, ctx: WireContext): Decoded {
  switch (type) {
    case MSG.OPEN:
      return decodeOpen(body);
    case MSG.UPDATE:
      return decodeUpdate(body, ctx);
    case MSG.NOTIFICATION:
      return decodeNotification(body);
    case MSG.KEEPALIVE:
      return decodeKeepalive(body);
    case MSG.ROUTE_REFRESH:
      return decodeRouteRefresh(body);
    default: {
      const e = wireError(ERR.HEADER, 3, `bad message type ${type}`, Uint8Array.of(type & 0xff));
      return { ok: false, error: e };
    }
  }
}
