// Building the WireErrors the decoder returns (the NOTIFICATION to send before closing).
import type { WireError } from './types.js';

const EMPTY = new Uint8Array(0);

/** A WireError with its NOTIFICATION code, subcode and data, and the reason for logs. */
export function wireError(
  code: number,
  subcode: number,
  reason: string,
  data: Uint8Array = EMPTY,
): WireError {
  return { code, subcode, data, reason };
}

/** The 2-octet data of a bad-length error: the length (RFC 4271 §6.1). */
export function u16Data(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}
