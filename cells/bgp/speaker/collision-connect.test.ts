// Collision (RFC 4271 §6.8) only between connections that sent OPEN: while the speaker's own
// connect is still unanswered (a SYN dropped on the way to the peer), the peer's connection
// is taken whatever the identifiers. node:net's connect is replaced for one port by a socket
// that never connects, the test's stand-in for the dropped SYN.
import * as net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from '../../../core/testing/ports.js';
import { encodeKeepalive } from '../wire/index.js';
import { MSG } from '../wire/types.js';
import { neighbor, peer, startSpeaker, until, untilState } from './fixtures.js';
import { RawPeer, rawOpen } from './raw-peer.js';

const PEER = '127.0.0.9';
const blackholed = new Set<number>();
const hanging: net.Socket[] = [];

vi.mock('node:net', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:net')>();
  const connect = (...args: Parameters<typeof real.connect>): net.Socket => {
    const o = args[0] as { port?: number };
    if (typeof o === 'object' && o.port !== undefined && blackholed.has(o.port)) {
      const s = new real.Socket();
      hanging.push(s);
      return s;
    }
    return real.connect(...args);
  };
  return { ...real, connect, default: { ...real, connect } };
});

describe('connection collision with a connect in progress', () => {
  it("takes a lower-identifier peer's connection while the speaker's SYN goes unanswered", async () => {
    const peerPort = await freePort();
    blackholed.add(peerPort);
    const s = await startSpeaker('127.0.0.1', '5.5.5.5', () => [
      neighbor({ address: PEER, port: peerPort, connectRetrySec: 600 }),
    ]);
    await until(() => hanging.length === 1 && peer(s.speaker, PEER)?.state === 'connect');
    const inb = await RawPeer.connect(s.port, PEER);
    inb.send(rawOpen({ bgpId: '2.2.2.2' }));
    await inb.nextOf(MSG.OPEN);
    // Its OPEN is answered with a KEEPALIVE (OpenConfirm), not a Cease 7.
    const answer = await until(() =>
      inb.received.find((m) => m.type === MSG.KEEPALIVE || m.type === MSG.NOTIFICATION),
    );
    expect(answer.type).toBe(MSG.KEEPALIVE);
    inb.send(encodeKeepalive());
    const st = await untilState(s.speaker, PEER, 'established');
    expect(st.peerRouterId).toBe('2.2.2.2');
    // The abandoned connect is gone with its socket.
    expect(hanging[0]?.destroyed).toBe(true);
  });
});
