// Hostile input on a real BGP session: the agent from its sources with a passive neighbor
// 127.0.0.1 on a free port, and a peer written by hand over node:net that opens the session
// (OPEN, KEEPALIVE) and then sends one broken message per connection. Each gets the
// NOTIFICATION RFC 4271 §6 names (read from the socket) and the connection is closed; a malformed
// ORIGIN is treated as a withdrawal (RFC 7606 §7.1): no NOTIFICATION, the session stays up and the
// route leaves the adj-RIB-in. The agent stays healthy and takes the next session after each.
import { describe, expect, it } from 'vitest';
import { freePort } from '../core/testing/ports.js';
import { startBgpAgent, type BgpAgent } from './support/bgp-agent.js';
import {
  attr,
  keepaliveMsg,
  message,
  MARKER,
  openMsg,
  plainAttrs,
  rawPeer,
  updateMsg,
  type RawPeer,
} from './support/bgp-raw.js';
import { until } from './support/bgp-routers.js';

const AGENT_AS = 65001;
const PEER_AS = 4_200_000_001; // a 4-octet AS: the session must carry RFC 6793
const ROUTE = '10.175.1.0/24';
/** ORIGIN, AS_PATH and NEXT_HOP of a well-formed route from the peer. */
const ATTRS = plainAttrs(PEER_AS, '127.0.0.1');

/** The agent with one passive neighbor, 127.0.0.1. */
async function agent(): Promise<{ a: BgpAgent; port: number }> {
  const port = await freePort();
  const a = await startBgpAgent({
    localAsn: AGENT_AS,
    listenPort: port,
    nodeV4: '10.175.0.1',
    podV4: '10.175.0.0/24',
    args: ['--bpf-backend=memory', '--bgp-router-id=10.175.0.1'],
    neighbors: [{ address: '127.0.0.1', asn: PEER_AS, passive: true, holdSec: 90 }],
  });
  return { a, port };
}

/** Connects and completes the handshake by hand: the session is Established on return. */
async function session(a: BgpAgent, port: number): Promise<RawPeer> {
  const p = await rawPeer('127.0.0.1', port);
  p.send(openMsg(PEER_AS, '10.175.0.2', 90));
  const open = await p.next();
  expect(open.type).toBe(1);
  expect(open.body.readUInt8(0)).toBe(4); // version
  p.send(keepaliveMsg());
  for (let m = await p.next(); m.type !== 4; m = await p.next()) {
    // The agent may send UPDATEs (its pod CIDR) before or after its KEEPALIVE; only a
    // NOTIFICATION would be wrong here.
    expect(m.type, `a NOTIFICATION during the handshake: ${m.body.toString('hex')}`).not.toBe(3);
  }
  await until(
    'the agent to report the session established',
    () => a.state('127.0.0.1'),
    (s) => s === 'established',
  );
  return p;
}

/** Reads messages until a NOTIFICATION; returns [code, subcode, data] and waits for the close. */
async function notification(p: RawPeer): Promise<[number, number, string]> {
  for (;;) {
    const m = await p.next();
    if (m.type !== 3) continue;
    await p.closed;
    return [m.body.readUInt8(0), m.body.readUInt8(1), m.body.subarray(2).toString('hex')];
  }
}

/** The agent's adj-RIB-in from 127.0.0.1 (IPv4 unicast), as prefixes. */
async function ribIn(a: BgpAgent): Promise<string[]> {
  const rs = await a.routes({
    table_type: 'adj-rib-in',
    afi: 'ipv4',
    safi: 'unicast',
    neighbor: '127.0.0.1',
  });
  return rs.map((r) => r.prefix).sort();
}

async function healthy(a: BgpAgent): Promise<void> {
  const h = await a.request<{ cilium: { state: string } }>('GET', '/healthz');
  expect(h.cilium.state).toBe('Ok');
  expect(a.agent.proc.exitCode).toBeNull();
}

describe('BGP: a hand-written peer sends malformed messages to the real agent', () => {
  it('answers each broken message with the right NOTIFICATION, withdraws a route with a malformed ORIGIN, and keeps running', async () => {
    const { a, port } = await agent();
    const cases: [string, Buffer, [number, number, string]][] = [
      // 1/1 connection not synchronized: a marker that is not all ones.
      ['bad marker', Buffer.concat([Buffer.alloc(16, 0), Buffer.from([0, 19, 4])]), [1, 1, '']],
      // 1/2 bad message length, the length as data: a KEEPALIVE of 20 bytes, then one over 4096.
      ['KEEPALIVE of length 20', Buffer.concat([message(4, Buffer.from([0]))]), [1, 2, '0014']],
      ['length 5000', Buffer.concat([MARKER, Buffer.from([0x13, 0x88, 2])]), [1, 2, '1388']],
      // 1/3 bad message type, the type as data.
      ['unknown type 9', message(9), [1, 3, '09']],
      // 3/1 malformed attribute list: a Total Path Attribute Length past the message's end
      // (the NLRI cannot be found, so RFC 7606 §4 keeps the session reset).
      [
        'attributes past the end',
        message(2, Buffer.from([0, 0, 0, 50, 0x40, 1, 1, 0])),
        [3, 1, ''],
      ],
      // 3/10 invalid network field: an IPv4 NLRI of length 33 (RFC 7606 §5.3: session reset).
      [
        'IPv4 NLRI /33',
        message(2, Buffer.from([0, 0, 0, ATTRS.length, ...ATTRS, 33, 10, 0, 0, 0, 0])),
        [3, 10, ''],
      ],
    ];
    for (const [what, bytes, want] of cases) {
      const p = await session(a, port);
      p.send(bytes);
      const [code, subcode, data] = await notification(p);
      expect([code, subcode], what).toEqual([want[0], want[1]]);
      if (want[2] !== '') expect(data, what).toBe(want[2]);
      await until(
        `the agent to leave Established after ${what}`,
        () => a.state('127.0.0.1'),
        (s) => s !== 'established',
      );
      await healthy(a);
    }

    // RFC 7606: a malformed ORIGIN (length 2) withdraws the route; the session stays up.
    const p = await session(a, port);
    p.send(updateMsg([], plainAttrs(PEER_AS, '127.0.0.1'), [ROUTE]));
    await until(
      'the route in the adj-RIB-in',
      () => ribIn(a),
      (rs) => rs.includes(ROUTE),
    );
    const broken = [...attr(0x40, 1, [0, 0]), ...plainAttrs(PEER_AS, '127.0.0.1').slice(4)];
    p.send(updateMsg([], broken, [ROUTE]));
    await until(
      'the route treated as withdrawn',
      () => ribIn(a),
      (rs) => !rs.includes(ROUTE),
    );
    // Still up: a later route on the same connection is accepted, and no NOTIFICATION came.
    p.send(updateMsg([], plainAttrs(PEER_AS, '127.0.0.1'), ['10.175.2.0/24']));
    await until(
      'a later route accepted on the same session',
      () => ribIn(a),
      (rs) => rs.includes('10.175.2.0/24'),
    );
    expect(await a.state('127.0.0.1')).toBe('established');
    expect(p.pending().map((m) => m.type)).not.toContain(3);
    expect(p.socket.destroyed).toBe(false);
    p.close();
    await healthy(a);
  });
});
