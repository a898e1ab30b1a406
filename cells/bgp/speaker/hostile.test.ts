// Hostile peers: mutated UPDATEs and random message bodies on established sessions. The
// speaker answers each with a NOTIFICATION or takes it (RFC 7606), never throws, and takes the
// next session. Seeded: BGP_HOSTILE_SEED reproduces a failure.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../core/testing/rng.js';
import { encodeRouteRefresh, encodeUpdate } from '../wire/index.js';
import { MSG } from '../wire/types.js';
import { neighbor, peer, startSpeaker, until, untilState } from './fixtures.js';
import { frame, RawPeer } from './raw-peer.js';

const PEER = '127.0.0.9';
const SEED = Number(process.env.BGP_HOSTILE_SEED ?? 1);

const valid = encodeUpdate(
  {
    withdrawn: ['10.8.0.0/16'],
    nlri: ['10.9.0.0/24', '10.9.1.0/24'],
    attrs: {
      origin: 0,
      asPath: [{ type: 2, asns: [65000, 65010] }],
      nextHop: PEER,
      communities: [1, 2],
      largeCommunities: [[1, 2, 3]],
      unknown: [],
    },
    mpReach: { family: 'ipv6-unicast', nextHops: ['fd00::9'], nlri: ['fd00:9::/64'] },
  },
  { as4: true, ibgp: false },
);

describe('hostile peer', () => {
  it(`mutated and random messages never break the speaker (seed ${SEED})`, async () => {
    const rng = new Rng(SEED);
    const s = await startSpeaker('127.0.0.1', '1.1.1.1', () => [
      neighbor({ address: PEER, port: 179, passive: true }),
    ]);
    let notified = 0;
    for (let round = 0; round < 60; round++) {
      const p = await RawPeer.connect(s.port, PEER);
      await p.handshake();
      await untilState(s.speaker, PEER, 'established');
      // The speaker has nothing to send: its two End-of-RIBs, then the hostile part.
      await until(() => p.received.filter((m) => m.type === MSG.UPDATE).length === 2);
      for (let i = 0; i < 5; i++) {
        let msg: Uint8Array;
        if (rng.chance(0.6)) {
          msg = valid.slice();
          for (let k = rng.int(1, 4); k > 0; k--)
            msg[rng.int(19, msg.length - 1)] = rng.int(0, 255);
        } else {
          const body = Uint8Array.from({ length: rng.int(0, 60) }, () => rng.int(0, 255));
          msg = frame(rng.pick([MSG.OPEN, MSG.UPDATE, MSG.NOTIFICATION, MSG.ROUTE_REFRESH]), body);
        }
        p.send(msg);
      }
      // A ROUTE-REFRESH after them: its End-of-RIB answer (or the close) shows all were handled.
      const before = p.received.length;
      p.send(encodeRouteRefresh('ipv4-unicast'));
      await until(
        () =>
          p.closed ||
          p.received.slice(before).some((m) => m.type === MSG.UPDATE && m.body.length === 4),
      );
      if (p.received.some((m) => m.type === MSG.NOTIFICATION)) notified++;
      p.socket.destroy();
      await until(() => peer(s.speaker, PEER)?.state !== 'established');
    }
    // Both outcomes happened: some sessions ended with a NOTIFICATION, some survived.
    expect(notified).toBeGreaterThan(0);
    expect(notified).toBeLessThan(60);
    const last = await RawPeer.connect(s.port, PEER);
    await last.handshake();
    await untilState(s.speaker, PEER, 'established');
  });
});
