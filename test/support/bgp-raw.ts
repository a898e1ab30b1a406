// A hand-written BGP peer over node:net for hostile-input tests: messages are built byte by byte
// here (never with the codec under test), so a header or attribute can be broken on purpose.
import { connect, type Socket } from 'node:net';

/** The 16-byte all-ones marker. */
export const MARKER = Buffer.alloc(16, 0xff);

/** A message: marker, length (19 + body unless `length` overrides it), type, body. */
export function message(
  type: number,
  body: Uint8Array = new Uint8Array(),
  length?: number,
): Buffer {
  const head = Buffer.alloc(3);
  head.writeUInt16BE(length ?? 19 + body.length, 0);
  head.writeUInt8(type, 2);
  return Buffer.concat([MARKER, head, body]);
}

/** OPEN with a 4-octet AS, multiprotocol IPv4 and IPv6 unicast (RFC 4271 §4.2, 5492, 6793). */
export function openMsg(asn: number, bgpId: string, holdSec: number): Buffer {
  const cap = (code: number, value: number[]): number[] => [code, value.length, ...value];
  const as4 = [(asn >>> 24) & 255, (asn >>> 16) & 255, (asn >>> 8) & 255, asn & 255];
  const caps = [...cap(1, [0, 1, 0, 1]), ...cap(1, [0, 2, 0, 1]), ...cap(65, as4)];
  const params = [2, caps.length, ...caps];
  const body = Buffer.alloc(10);
  body.writeUInt8(4, 0);
  body.writeUInt16BE(asn > 0xffff ? 23456 : asn, 1);
  body.writeUInt16BE(holdSec, 3);
  bgpId.split('.').forEach((o, i) => body.writeUInt8(Number(o), 5 + i));
  body.writeUInt8(params.length, 9);
  return message(1, Buffer.concat([body, Buffer.from(params)]));
}

/** KEEPALIVE. */
export const keepaliveMsg = (): Buffer => message(4);

/** One path attribute (flags, code, 1-byte length unless flags has 0x10). */
export function attr(flags: number, code: number, value: number[]): number[] {
  return flags & 0x10
    ? [flags, code, value.length >> 8, value.length & 255, ...value]
    : [flags, code, value.length, ...value];
}

/** The NLRI bytes of an IPv4 prefix ("10.1.0.0/24"). */
export function nlri4(prefix: string): number[] {
  const [ip = '', len = '32'] = prefix.split('/');
  const bits = Number(len);
  return [
    bits,
    ...ip
      .split('.')
      .map(Number)
      .slice(0, Math.ceil(bits / 8)),
  ];
}

/** UPDATE: withdrawn IPv4 prefixes, raw attribute bytes, IPv4 NLRI. */
export function updateMsg(
  withdrawn: readonly string[],
  attrs: number[],
  nlri: readonly string[],
): Buffer {
  const w = withdrawn.flatMap(nlri4);
  const n = nlri.flatMap(nlri4);
  return message(
    2,
    Buffer.from([
      w.length >> 8,
      w.length & 255,
      ...w,
      attrs.length >> 8,
      attrs.length & 255,
      ...attrs,
      ...n,
    ]),
  );
}

/** ORIGIN IGP, AS_PATH [asn] (4-octet), NEXT_HOP: the attributes of a plain eBGP route. */
export function plainAttrs(asn: number, nextHop: string): number[] {
  const as4 = [(asn >>> 24) & 255, (asn >>> 16) & 255, (asn >>> 8) & 255, asn & 255];
  return [
    ...attr(0x40, 1, [0]),
    ...attr(0x40, 2, [2, 1, ...as4]),
    ...attr(0x40, 3, nextHop.split('.').map(Number)),
  ];
}

/** A message read from the peer. */
export interface RawMessage {
  readonly type: number;
  readonly body: Buffer;
}

/** A raw BGP connection: send bytes, read whole messages, see when it closes. */
export interface RawPeer {
  readonly socket: Socket;
  send(b: Uint8Array): void;
  /** The next message (waits for it); rejects once the connection closed without one. */
  next(): Promise<RawMessage>;
  /** Every whole message received and not yet read, without waiting. */
  pending(): RawMessage[];
  /** Resolves when the agent has closed the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

/** Connects to host:port. */
export async function rawPeer(host: string, port: number): Promise<RawPeer> {
  const socket = connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buf = Buffer.alloc(0);
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake();
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      wake();
      resolve();
    }),
  );
  socket.on('error', () => undefined);
  const take = (): RawMessage | undefined => {
    if (buf.length < 19) return undefined;
    const len = buf.readUInt16BE(16);
    if (len < 19) throw new Error(`peer sent a header with length ${len}`);
    if (buf.length < len) return undefined;
    const m = { type: buf.readUInt8(18), body: buf.subarray(19, len) };
    buf = buf.subarray(len);
    return m;
  };
  const next = async (): Promise<RawMessage> => {
    for (;;) {
      const m = take();
      if (m) return m;
      if (ended) throw new Error('connection closed');
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return {
    socket,
    send: (b) => socket.write(b),
    next,
    pending: () => {
      const out: RawMessage[] = [];
      for (let m = take(); m; m = take()) out.push(m);
      return out;
    },
    closed,
    close: () => socket.destroy(),
  };
}
