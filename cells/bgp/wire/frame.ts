// The BGP message header (RFC 4271 §4.1): 16 bytes of ones, the length, the type.
import { HEADER_LEN, MAX_MESSAGE } from './types.js';

/** Wraps a message body in its header; throws a RangeError when it exceeds 4096 bytes. */
export function frame(type: number, body: Uint8Array): Uint8Array {
  const len = HEADER_LEN + body.length;
  if (len > MAX_MESSAGE) {
    throw new RangeError(`BGP message of type ${type} would be ${len} bytes (max ${MAX_MESSAGE})`);
  }
  const out = new Uint8Array(len);
  out.fill(0xff, 0, 16);
  out[16] = len >>> 8;
  out[17] = len & 0xff;
  out[18] = type;
  out.set(body, HEADER_LEN);
  return out;
}
