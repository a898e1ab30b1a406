// A hand-driven BGP peer for tests: a plain node:net socket that sends whatever bytes a test
// gives it and collects the messages the speaker sends back (NOTIFICATIONs read byte by byte).
import { connect, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';
import { encodeKeepalive, encodeOpen, MessageReader } from '../wire/index.js';
import { MSG, type OpenMsg } from '../wire/types.js';
import { until } from './fixtures.js';

/** A message the peer received: its type and body. */
export interface RawMessage {
  readonly type: number;
  readonly body: Uint8Array;
}

/** The 16-octet marker, length and type of a BGP message around `body`. */
export function frame(type: number, body: Uint8Array, marker = 0xff): Uint8Array {
  const out = new Uint8Array(19 + body.length).fill(marker, 0, 16);
  new DataView(out.buffer).setUint16(16, out.length);
  out[18] = type;
  out.set(body, 19);
  return out;
}

/** An OPEN as the tests' peer sends it by default (AS 65000, hold 9 s, IPv4+IPv6, RR, AS4). */
export function rawOpen(o: Partial<Omit<OpenMsg, 'type'>> = {}): Uint8Array {
  return encodeOpen({
    version: 4,
    myAs: 65000,
    holdTimeSec: 9,
    bgpId: '9.9.9.9',
    caps: {
      multiprotocol: ['ipv4-unicast', 'ipv6-unicast'],
      routeRefresh: true,
      as4: 65000,
      unknown: [],
    },
    ...o,
  });
}

/** A TCP connection to a speaker, driven by hand. */
export class RawPeer {
  readonly received: RawMessage[] = [];
  closed = false;
  private readonly reader = new MessageReader();
  private read = 0;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      for (let m = this.reader.next(); m && !('error' in m); m = this.reader.next()) {
        this.received.push(m);
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => (this.closed = true));
  }

  /** Connects from `localAddress` to the speaker's port; closed when the test ends. */
  static async connect(port: number, localAddress: string): Promise<RawPeer> {
    const host = localAddress.includes(':') ? '::1' : '127.0.0.1';
    const s = connect({ host, port, localAddress });
    onTestFinished(() => {
      s.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new RawPeer(s);
  }

  /** Wraps a connection the speaker opened to a test's listener. */
  static accepted(s: Socket): RawPeer {
    return new RawPeer(s);
  }

  /** Writes raw bytes. */
  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next message received (in order), waiting for it. */
  async next(): Promise<RawMessage> {
    const m = await until(() => this.received[this.read]);
    this.read++;
    return m;
  }

  /** The next message of `type`, skipping others (KEEPALIVEs...). */
  async nextOf(type: number): Promise<RawMessage> {
    for (;;) {
      const m = await this.next();
      if (m.type === type) return m;
    }
  }

  /** Waits for a NOTIFICATION and returns its code, subcode and data. */
  async notification(): Promise<{ code: number; subcode: number; data: number[] }> {
    const m = await this.nextOf(MSG.NOTIFICATION);
    return { code: m.body[0] ?? -1, subcode: m.body[1] ?? -1, data: [...m.body.subarray(2)] };
  }

  /** OPEN exchange: sends `open`, reads the speaker's OPEN, confirms with KEEPALIVEs. */
  async handshake(open = rawOpen()): Promise<RawMessage> {
    this.send(open);
    const theirs = await this.nextOf(MSG.OPEN);
    this.send(encodeKeepalive());
    await this.nextOf(MSG.KEEPALIVE);
    return theirs;
  }

  /** Waits until the speaker closed the connection. */
  async untilClosed(): Promise<void> {
    await until(() => this.closed);
  }
}
