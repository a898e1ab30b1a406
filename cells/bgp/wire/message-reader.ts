// Splits the TCP byte stream of a session into BGP messages, checking each header
// (RFC 4271 §6.1) before the body is decoded.
import { u16At } from './bytes.js';
import { u16Data, wireError } from './errors.js';
import { ERR, HEADER_LEN, MAX_MESSAGE, MSG, type WireError } from './types.js';

/** The smallest and largest valid length of each message type (header included). */
const LENGTHS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [MSG.OPEN, [29, MAX_MESSAGE]],
  [MSG.UPDATE, [23, MAX_MESSAGE]],
  [MSG.NOTIFICATION, [21, MAX_MESSAGE]],
  [MSG.KEEPALIVE, [19, 19]],
  [MSG.ROUTE_REFRESH, [23, 23]],
]);

/** The header check of one message: undefined when it is valid, else the error to send. */
export function checkHeader(type: number, len: number): WireError | undefined {
  if (len < HEADER_LEN || len > MAX_MESSAGE) {
    return wireError(ERR.HEADER, 2, `bad message length ${len}`, u16Data(len));
  }
  const range = LENGTHS.get(type);
  if (!range) return wireError(ERR.HEADER, 3, `bad message type ${type}`, Uint8Array.of(type));
  if (len < range[0] || len > range[1]) {
    return wireError(ERR.HEADER, 2, `bad length ${len} for message type ${type}`, u16Data(len));
  }
  return undefined;
}

/** A framed message body, or the header error that ends the session. */
export type ReadResult = { type: number; body: Uint8Array } | { error: WireError };

/** Splits a session's byte stream into messages; after an error it returns that error again. */
export class MessageReader {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private failed: WireError | undefined;

  /** Appends bytes received from the socket. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) {
      // Move the unread bytes to the front, into a larger buffer when they would not fit.
      const live = this.end - this.start;
      if (live + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const next = new Uint8Array(Math.max(2 * this.buf.length, live + chunk.length, 8192));
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The next complete message, a header error, or undefined when more bytes are needed. */
  next(): ReadResult | undefined {
    if (this.failed) return { error: this.failed };
    if (this.end - this.start < HEADER_LEN) return undefined;
    const b = this.buf;
    const s = this.start;
    for (let i = 0; i < 16; i++) {
      if (b[s + i] !== 0xff) return this.fail(wireError(ERR.HEADER, 1, 'bad marker'));
    }
    const len = u16At(b, s + 16);
    const type = b[s + 18] ?? 0;
    const bad = checkHeader(type, len);
    if (bad) return this.fail(bad);
    if (this.end - s < len) return undefined;
    const body = b.slice(s + HEADER_LEN, s + len);
    this.start += len;
    if (this.start === this.end) this.start = this.end = 0;
    return { type, body };
  }

  private fail(e: WireError): ReadResult {
    this.failed = e;
    return { error: e };
  }
}
