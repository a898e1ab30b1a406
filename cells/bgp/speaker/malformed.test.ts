// A raw TCP peer sends what a broken or hostile router might: each gets the right
// NOTIFICATION (read from the socket) or treat-as-withdraw, and the speaker keeps accepting.
import { describe, expect, it } from 'vitest';
import { encodeUpdate } from '../wire/index.js';
import { MSG } from '../wire/types.js';
import { neighbor, peer, startSpeaker, until, untilState, type TestSpeaker } from './fixtures.js';
import { frame, RawPeer, rawOpen } from './raw-peer.js';

const PEER = '127.0.0.5';

function speaker(): Promise<TestSpeaker> {
  return startSpeaker('127.0.0.1', '1.1.1.1', () => [
    neighbor({ address: PEER, port: 179, passive: true }),
  ]);
}

/** A raw peer with the OPEN exchange done: the session is established. */
async function established(s: TestSpeaker): Promise<RawPeer> {
  const p = await RawPeer.connect(s.port, PEER);
  await p.handshake();
  await untilState(s.speaker, PEER, 'established');
  return p;
}

/** The speaker still takes a new session after the previous one failed. */
async function acceptsNextSession(s: TestSpeaker): Promise<void> {
  await established(s);
}

/** An UPDATE announcing 10.9.0.0/24 from the peer (4-octet AS session, eBGP). */
function update(): Uint8Array {
  return encodeUpdate(
    {
      withdrawn: [],
      nlri: ['10.9.0.0/24'],
      attrs: { origin: 0, asPath: [{ type: 2, asns: [65000] }], nextHop: PEER, unknown: [] },
    },
    { as4: true, ibgp: false },
  );
}

describe('malformed messages from a peer', () => {
  it.each([
    ['bad marker', frame(MSG.KEEPALIVE, new Uint8Array(), 0), [1, 1, []]],
    ['bad length', Uint8Array.of(...new Array<number>(16).fill(0xff), 0, 18, 4), [1, 2, [0, 18]]],
    ['KEEPALIVE too long', frame(MSG.KEEPALIVE, Uint8Array.of(0)), [1, 2, [0, 20]]],
    ['unknown type', frame(9, new Uint8Array()), [1, 3, [9]]],
  ] as const)('%s → NOTIFICATION %j', async (_name, bytes, [code, subcode, data]) => {
    const s = await speaker();
    const p = await established(s);
    p.send(bytes);
    expect(await p.notification()).toEqual({ code, subcode, data });
    await p.untilClosed();
    await until(() => peer(s.speaker, PEER)?.state === 'active');
    expect(peer(s.speaker, PEER)?.lastError).toMatch(`NOTIFICATION ${code}/${subcode}`);
    await acceptsNextSession(s);
  });

  const patch = (at: number, ...bytes: number[]): Uint8Array => {
    const o = rawOpen();
    o.set(bytes, at);
    return o;
  };
  it.each([
    ['version 3', patch(19, 3), [2, 1, [0, 4]]],
    [
      'wrong peer AS',
      rawOpen({ myAs: 65009, caps: { multiprotocol: [], routeRefresh: false, unknown: [] } }),
      [2, 2, []],
    ],
    [
      'wrong AS4',
      rawOpen({ caps: { multiprotocol: [], routeRefresh: false, as4: 4200000000, unknown: [] } }),
      [2, 2, []],
    ],
    ['hold time 2', rawOpen({ holdTimeSec: 2 }), [2, 6, []]],
    ['BGP id 0.0.0.0', rawOpen({ bgpId: '0.0.0.0' }), [2, 3, []]],
    ['BGP id equal to ours', rawOpen({ bgpId: '1.1.1.1' }), [2, 3, []]],
  ] as const)('OPEN with %s → NOTIFICATION %j', async (_name, open, [code, subcode, data]) => {
    const s = await speaker();
    const p = await RawPeer.connect(s.port, PEER);
    p.send(open);
    expect(await p.notification()).toEqual({ code, subcode, data });
    await p.untilClosed();
    await acceptsNextSession(s);
  });

  it('an UPDATE with a malformed ORIGIN withdraws its route and keeps the session', async () => {
    const s = await speaker();
    const p = await established(s);
    const good = update();
    p.send(good);
    await until(() => s.speaker.ribIn(PEER, 'ipv4-unicast').length === 1);
    const bad = good.slice();
    // The first attribute is ORIGIN (flags 0x40, code 1, length 1): an undefined value.
    expect([...bad.subarray(23, 27)]).toEqual([0x40, 1, 1, 0]);
    bad[26] = 5;
    p.send(bad);
    await until(() => s.speaker.ribIn(PEER, 'ipv4-unicast').length === 0);
    expect(s.log.entries.some((e) => e.msg.includes('treated as withdraw'))).toBe(true);
    // Re-announced with a good ORIGIN, it is back: the session survived.
    p.send(good);
    await until(() => s.speaker.ribIn(PEER, 'ipv4-unicast').length === 1);
    expect(peer(s.speaker, PEER)?.state).toBe('established');
    expect(p.received.filter((m) => m.type === MSG.NOTIFICATION)).toEqual([]);
    expect(p.closed).toBe(false);
  });

  it('an UPDATE with a malformed NLRI → NOTIFICATION 3/x', async () => {
    const s = await speaker();
    const p = await established(s);
    const bad = update();
    // The NLRI is the last 4 bytes (24, 10, 9, 0): a /33 cannot be IPv4.
    expect([...bad.subarray(-4)]).toEqual([24, 10, 9, 0]);
    bad[bad.length - 4] = 33;
    p.send(bad);
    const n = await p.notification();
    expect(n.code).toBe(3);
    await p.untilClosed();
    await acceptsNextSession(s);
  });
});
