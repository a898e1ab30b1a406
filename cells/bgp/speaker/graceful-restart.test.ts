// Graceful restart between two speakers (RFC 4724): a speaker that stops gracefully leaves its
// routes in the peer as stale; restarted, it refreshes them (never withdrawn) and the routes it
// no longer has go with its End-of-RIB, or when it does not come back in its restart time.
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../core/testing/ports.js';
import { neighbor, peer, startSpeaker, tcpHandles, until, untilState } from './fixtures.js';
import type { Advertisement, BgpSpeaker, NeighborConfig } from './types.js';

const A = '127.0.0.1';
const B = '127.0.0.2';
const ad = (prefix: string): Advertisement => ({ prefix, communities: [], largeCommunities: [] });

/** Speaker a (restarting or not) toward b; both with graceful restart. */
async function speakerA(pa: number, pb: number, restarting: boolean, restartTimeSec = 30) {
  return startSpeaker(
    A,
    '1.1.1.1',
    () => [
      neighbor({
        address: B,
        port: pb,
        localAddress: A,
        gracefulRestart: { enabled: true, restartTimeSec },
      }),
    ],
    { port: pa, restarting },
  );
}

function speakerB(pa: number, pb: number, over: Partial<NeighborConfig> = {}) {
  return startSpeaker(
    B,
    '2.2.2.2',
    () => [
      neighbor({
        address: A,
        port: pa,
        localAddress: B,
        localAsn: 65000,
        peerAsn: 65001,
        passive: true,
        gracefulRestart: { enabled: true, restartTimeSec: 30 },
        ...over,
      }),
    ],
    { port: pb },
  );
}

const prefixes = (s: BgpSpeaker): string[] =>
  s
    .ribIn(A, 'ipv4-unicast')
    .map((r) => `${r.prefix}${r.stale ? ' stale' : ''}`)
    .sort();

describe('graceful restart', () => {
  it('keeps the routes stale across the restart; refreshes them; drops the rest at End-of-RIB', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const b = await speakerB(pa, pb);
    const a = await speakerA(pa, pb, false);
    a.speaker.setAdvertisements(B, [ad('10.1.0.0/24'), ad('10.2.0.0/24')]);
    const st = await untilState(b.speaker, A, 'established');
    expect(st.gracefulRestartNegotiated).toBe(true);
    await until(() => prefixes(b.speaker).length === 2);
    // From now on, 10.1.0.0/24 must never leave b's adj-RIB-in.
    const missing: string[][] = [];
    const sub = b.speaker.changes$.subscribe(() => {
      const p = prefixes(b.speaker);
      if (!p.some((x) => x.startsWith('10.1.0.0/24'))) missing.push(p);
    });
    try {
      await a.speaker.stop({ graceful: true });
      await until(() => prefixes(b.speaker).join() === '10.1.0.0/24 stale,10.2.0.0/24 stale');
      expect(peer(b.speaker, A)?.state).not.toBe('established');

      const a2 = await speakerA(pa, pb, true);
      a2.speaker.setAdvertisements(B, [ad('10.1.0.0/24')]);
      await untilState(b.speaker, A, 'established');
      await until(() => prefixes(b.speaker).join() === '10.1.0.0/24');
      expect(b.log.entries.some((e) => e.msg === 'bgp End-of-RIB received')).toBe(true);
    } finally {
      sub.unsubscribe();
    }
    expect(missing).toEqual([]);
  });

  it('drops the stale routes when the peer does not come back within its restart time', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const b = await speakerB(pa, pb);
    const a = await speakerA(pa, pb, false, 1);
    a.speaker.setAdvertisements(B, [ad('10.1.0.0/24')]);
    await until(() => prefixes(b.speaker).length === 1);
    await a.speaker.stop({ graceful: true });
    await until(() => prefixes(b.speaker).join() === '10.1.0.0/24 stale');
    await until(() => prefixes(b.speaker).length === 0);
  });

  it('a non-graceful stop (Cease 2) withdraws at once, as does a peer without GR', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const b = await speakerB(pa, pb);
    const a = await speakerA(pa, pb, false);
    a.speaker.setAdvertisements(B, [ad('10.1.0.0/24')]);
    await until(() => prefixes(b.speaker).length === 1);
    await a.speaker.stop({ graceful: false });
    await until(() => peer(b.speaker, A)?.state !== 'established');
    expect(prefixes(b.speaker)).toEqual([]);
    expect(peer(b.speaker, A)?.lastError).toBe('received NOTIFICATION 6/2');

    const [pc, pd] = [await freePort(), await freePort()];
    const d = await speakerB(pc, pd, { gracefulRestart: { enabled: false, restartTimeSec: 0 } });
    const c = await speakerA(pc, pd, false);
    c.speaker.setAdvertisements(B, [ad('10.1.0.0/24')]);
    const st = await untilState(d.speaker, A, 'established');
    expect(st.gracefulRestartNegotiated).toBe(false);
    await until(() => prefixes(d.speaker).length === 1);
    // Graceful asked, but not negotiated: Cease 2 all the same.
    await c.speaker.stop({ graceful: true });
    await until(() => prefixes(d.speaker).length === 0);
    expect(peer(d.speaker, A)?.lastError).toBe('received NOTIFICATION 6/2');
  });
});

describe('stop', () => {
  it('closes the listener and every socket', async () => {
    const before = tcpHandles();
    const [pa, pb] = [await freePort(), await freePort()];
    const b = await speakerB(pa, pb);
    const a = await speakerA(pa, pb, false);
    await untilState(a.speaker, B, 'established');
    expect(tcpHandles()).toBeGreaterThan(before);
    await Promise.all([a.speaker.stop({ graceful: false }), b.speaker.stop({ graceful: false })]);
    await until(() => tcpHandles() === before);
    expect(a.speaker.peers()).toEqual([]);
    await expect(a.speaker.apply(a.config)).rejects.toThrow(/stopped/);
  });
});
