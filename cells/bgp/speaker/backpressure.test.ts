// Writes respect the socket: with a peer that does not read, UPDATEs wait in the speaker and
// changes made meanwhile are sent as one difference once it reads again.
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../wire/index.js';
import { MSG } from '../wire/types.js';
import { neighbor, startSpeaker, until, untilState } from './fixtures.js';
import { RawPeer } from './raw-peer.js';
import type { Advertisement } from './types.js';

const PEER = '127.0.0.7';

/**
 * n routes whose attributes differ by `tag`, each in an UPDATE of its own of ~3.7 kB (300
 * large communities): 3,000 of them are ~11 MB, more than loopback's socket buffers hold.
 */
function routes(n: number, tag: number): Advertisement[] {
  return Array.from({ length: n }, (_, i) => ({
    prefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
    communities: [],
    largeCommunities: Array.from({ length: 300 }, (_, k) => [tag, i, k] as const),
  }));
}

describe('backpressure', () => {
  it('a peer that stops reading gets the latest routes once it reads again', async () => {
    const s = await startSpeaker('127.0.0.1', '1.1.1.1', () => [
      neighbor({ address: PEER, port: 179, passive: true, holdTimeSec: 0, keepaliveSec: 0 }),
    ]);
    const p = await RawPeer.connect(s.port, PEER);
    await p.handshake();
    await untilState(s.speaker, PEER, 'established');
    p.socket.pause();
    const n = 3000;
    s.speaker.setAdvertisements(PEER, routes(n, 1));
    // Later changes, each in a tick of its own, while the first set is still being written.
    for (let tag = 2; tag <= 5; tag++) {
      await new Promise((r) => setImmediate(r));
      s.speaker.setAdvertisements(PEER, routes(n - tag, tag));
    }
    const rib = new Map<string, number>();
    let updates = 0;
    let read = 0;
    const ctx = { as4: true, ibgp: false };
    p.socket.resume();
    const final = routes(n - 5, 5);
    await until(() => {
      for (let m = p.received[read]; m; m = p.received[++read]) {
        if (m.type !== MSG.UPDATE) continue;
        updates++;
        const d = decodeMessage(m.type, m.body, ctx);
        if (!d.ok || d.msg.type !== 'update') throw new Error('bad UPDATE from the speaker');
        for (const w of d.msg.withdrawn) rib.delete(w);
        for (const r of d.msg.nlri) rib.set(r, d.msg.attrs?.largeCommunities?.[0]?.[0] ?? -1);
      }
      return rib.size === final.length && [...rib.values()].every((tag) => tag === 5);
    });
    expect(s.speaker.ribOut(PEER, 'ipv4-unicast')).toHaveLength(final.length);
    // Each set sent in full would be ~5 × 3,000 UPDATEs; the first set and one difference to
    // the last are ~2 × 3,000: the changes made while the socket was full were merged.
    expect(updates).toBeLessThan(3 * n);
  });
});
