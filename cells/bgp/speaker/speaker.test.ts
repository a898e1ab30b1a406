// Two speakers on loopback (127.0.0.1 and 127.0.0.2) with each other as neighbor.
import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../../core/testing/ports.js';
import { neighbor, peer, startSpeaker, until, untilState, type TestSpeaker } from './fixtures.js';
import type { Advertisement, NeighborConfig } from './types.js';

const A = '127.0.0.1';
const B = '127.0.0.2';

interface PairOpts {
  readonly asnA?: number;
  readonly asnB?: number;
  readonly a?: Partial<NeighborConfig>;
  readonly b?: Partial<NeighborConfig>;
}

/** Speaker a (127.0.0.1, id 1.1.1.1) and b (127.0.0.2, id 2.2.2.2), neighbors of each other. */
async function pair(o: PairOpts = {}): Promise<{ a: TestSpeaker; b: TestSpeaker }> {
  const [pa, pb] = [await freePort(), await freePort()];
  const asnA = o.asnA ?? 65001;
  const asnB = o.asnB ?? 65000;
  const [a, b] = await Promise.all([
    startSpeaker(
      A,
      '1.1.1.1',
      () => [
        neighbor({ address: B, port: pb, localAddress: A, localAsn: asnA, peerAsn: asnB, ...o.a }),
      ],
      { port: pa },
    ),
    startSpeaker(
      B,
      '2.2.2.2',
      () => [
        neighbor({ address: A, port: pa, localAddress: B, localAsn: asnB, peerAsn: asnA, ...o.b }),
      ],
      { port: pb },
    ),
  ]);
  return { a, b };
}

const ad = (prefix: string, more: Partial<Advertisement> = {}): Advertisement => ({
  prefix,
  communities: [],
  largeCommunities: [],
  ...more,
});

describe('two speakers', () => {
  it('eBGP, 2-octet ASNs, IPv4 + IPv6: routes arrive with the right attributes, then go', async () => {
    const { a, b } = await pair();
    a.speaker.setAdvertisements(B, [
      ad('10.1.0.0/24', {
        communities: [65000 * 65536 + 100],
        largeCommunities: [[65001, 1, 2]],
        localPref: 300,
      }),
      ad('fd00:1::/64', { nextHop: 'fd00::a' }),
    ]);
    const s = await untilState(a.speaker, B, 'established');
    expect(s.appliedHoldTimeSec).toBe(9);
    expect(s.appliedKeepaliveSec).toBe(3);
    expect(s.peerRouterId).toBe('2.2.2.2');
    await untilState(b.speaker, A, 'established');
    const v4 = await until(() => b.speaker.ribIn(A, 'ipv4-unicast')[0]);
    expect(v4.prefix).toBe('10.1.0.0/24');
    expect(v4.nextHop).toBe(A);
    expect(v4.stale).toBe(false);
    expect(v4.attrs).toMatchObject({
      origin: 0,
      asPath: [{ type: 2, asns: [65001] }],
      communities: [65000 * 65536 + 100],
      largeCommunities: [[65001, 1, 2]],
    });
    expect(v4.attrs.localPref).toBeUndefined(); // eBGP: never sent
    const v6 = await until(() => b.speaker.ribIn(A, 'ipv6-unicast')[0]);
    expect([v6.prefix, v6.nextHop]).toEqual(['fd00:1::/64', 'fd00::a']);
    expect(a.speaker.ribOut(B, 'ipv4-unicast').map((r) => r.prefix)).toEqual(['10.1.0.0/24']);
    expect(a.speaker.ribOut(B, 'ipv4-unicast')[0]?.encodedAttrs.length).toBeGreaterThan(0);
    await until(() => peer(b.speaker, A)?.families.every((f) => f.received === 1));
    expect(peer(b.speaker, A)?.families).toEqual([
      { family: 'ipv4-unicast', received: 1, accepted: 0, advertised: 0 },
      { family: 'ipv6-unicast', received: 1, accepted: 0, advertised: 0 },
    ]);
    expect(peer(a.speaker, B)?.families.map((f) => f.advertised)).toEqual([1, 1]);

    a.speaker.setAdvertisements(B, [ad('fd00:1::/64', { nextHop: 'fd00::a' })]);
    await until(() => b.speaker.ribIn(A, 'ipv4-unicast').length === 0);
    expect(b.speaker.ribIn(A, 'ipv6-unicast').map((r) => r.prefix)).toEqual(['fd00:1::/64']);
    a.speaker.setAdvertisements(B, []);
    await until(() => b.speaker.ribIn(A, 'ipv6-unicast').length === 0);
    expect(peer(a.speaker, B)?.families.map((f) => f.advertised)).toEqual([0, 0]);
    // The TTL (1: eBGP, directly connected) was set on both sides' sockets.
    expect([...a.log.entries, ...b.log.entries].filter((e) => e.msg.includes('TTL'))).toEqual([]);
  });

  it('iBGP with 4-octet ASNs: empty AS_PATH, LOCAL_PREF given or 100', async () => {
    const { a, b } = await pair({ asnA: 4200000001, asnB: 4200000001 });
    a.speaker.setAdvertisements(B, [ad('10.1.0.0/24', { localPref: 200 }), ad('10.2.0.0/24')]);
    const routes = await until(() => {
      const r = b.speaker.ribIn(A, 'ipv4-unicast');
      return r.length === 2 ? r : undefined;
    });
    const byPrefix = new Map(routes.map((r) => [r.prefix, r.attrs]));
    expect(byPrefix.get('10.1.0.0/24')).toMatchObject({ asPath: [], localPref: 200 });
    expect(byPrefix.get('10.2.0.0/24')).toMatchObject({ asPath: [], localPref: 100 });
  });

  it('eBGP with 4-octet ASNs: the AS_PATH carries the real ASN', async () => {
    const { a, b } = await pair({ asnA: 4200000001, asnB: 4200000002 });
    a.speaker.setAdvertisements(B, [ad('10.1.0.0/24')]);
    const r = await until(() => b.speaker.ribIn(A, 'ipv4-unicast')[0]);
    expect(r.attrs.asPath).toEqual([{ type: 2, asns: [4200000001] }]);
  });

  it('passive neighbor: only the active side connects', async () => {
    const { a, b } = await pair({ b: { passive: true } });
    expect(peer(b.speaker, A)?.state).toBe('active');
    await untilState(b.speaker, A, 'established');
    await untilState(a.speaker, B, 'established');
  });

  it('both active (collision): both end up established on one session', async () => {
    const { a, b } = await pair();
    const sa = await untilState(a.speaker, B, 'established');
    const sb = await untilState(b.speaker, A, 'established');
    // The session both keep is the same: a route sent now arrives.
    a.speaker.setAdvertisements(B, [ad('10.7.0.0/16')]);
    await until(() => b.speaker.ribIn(A, 'ipv4-unicast').length === 1);
    expect(peer(a.speaker, B)?.establishedAt).toBe(sa.establishedAt);
    expect(peer(b.speaker, A)?.establishedAt).toBe(sb.establishedAt);
  });

  it('apply() with one neighbor changed leaves the other session untouched', async () => {
    const C = '127.0.0.3';
    const [pa, pb, pc] = [await freePort(), await freePort(), await freePort()];
    const nb = neighbor({ address: B, port: pb, localAddress: A, peerAsn: 65000 });
    const nc = neighbor({ address: C, port: pc, localAddress: A, peerAsn: 65002 });
    const [a] = await Promise.all([
      startSpeaker(A, '1.1.1.1', () => [nb, nc], { port: pa }),
      startSpeaker(
        B,
        '2.2.2.2',
        () => [
          neighbor({ address: A, port: pa, localAddress: B, localAsn: 65000, peerAsn: 65001 }),
        ],
        { port: pb },
      ),
      startSpeaker(
        C,
        '3.3.3.3',
        () => [
          neighbor({ address: A, port: pa, localAddress: C, localAsn: 65002, peerAsn: 65001 }),
        ],
        { port: pc },
      ),
    ]);
    const before = await untilState(a.speaker, B, 'established');
    const cBefore = await untilState(a.speaker, C, 'established');
    await a.speaker.apply({ ...a.config, neighbors: [nb, { ...nc, holdTimeSec: 6 }] });
    const cAfter = await until(() => {
      const p = peer(a.speaker, C);
      return p?.state === 'established' && p.establishedAt !== cBefore.establishedAt
        ? p
        : undefined;
    });
    expect(cAfter.config.holdTimeSec).toBe(6);
    expect(cAfter.appliedHoldTimeSec).toBe(6);
    expect(peer(a.speaker, B)?.establishedAt).toBe(before.establishedAt);
    expect(
      a.log.entries
        .filter(
          (e) => e.msg.includes('state changed') && (e.o as { neighbor: string }).neighbor === B,
        )
        .map((e) => (e.o as { to: string }).to),
    ).not.toContain('idle');
    // Removed: the session goes, the other stays.
    await a.speaker.apply({ ...a.config, neighbors: [nb] });
    expect(a.speaker.peers().map((p) => p.config.address)).toEqual([B]);
    expect(peer(a.speaker, B)?.establishedAt).toBe(before.establishedAt);
  });

  it('reconnects with backoff after the peer goes and comes back', async () => {
    const { a, b } = await pair({ b: { passive: true } });
    await untilState(a.speaker, B, 'established');
    await b.speaker.stop({ graceful: false });
    await until(() => peer(a.speaker, B)?.state !== 'established');
    expect(peer(a.speaker, B)?.lastError).toMatch(/NOTIFICATION 6\/2/);
    const b2 = await startSpeaker(
      B,
      '2.2.2.2',
      () => [
        neighbor({
          address: A,
          port: a.port,
          localAddress: B,
          localAsn: 65000,
          peerAsn: 65001,
          passive: true,
        }),
      ],
      { port: b.port },
    );
    await untilState(b2.speaker, A, 'established');
    await untilState(a.speaker, B, 'established');
  });

  it('rejects connections from unconfigured addresses', async () => {
    const { a } = await pair({ b: { passive: true } });
    const stranger = await startSpeaker('127.0.0.9', '9.9.9.9', () => [
      neighbor({ address: A, port: a.port, localAddress: '127.0.0.9', localAsn: 65009 }),
    ]);
    await until(() => a.log.entries.some((e) => e.msg.includes('unconfigured address')));
    expect(peer(stranger.speaker, A)?.state).not.toBe('established');
  });

  it('refuses invalid advertisements and configurations with the reason', async () => {
    const { a } = await pair();
    expect(() => a.speaker.setAdvertisements(B, [ad('10.1.0.1/24')])).toThrow(/not canonical/);
    expect(() =>
      a.speaker.setAdvertisements(B, [ad('10.1.0.0/24', { communities: [-1] })]),
    ).toThrow(/advertisement 10.1.0.0\/24: community -1/);
    expect(() =>
      a.speaker.setAdvertisements(B, [ad('10.1.0.0/24', { nextHop: 'fd00::1' })]),
    ).toThrow(/not of the prefix's family/);
    await expect(a.speaker.apply({ ...a.config, routerId: 'x' })).rejects.toThrow(/routerId 'x'/);
  });

  it('apply() with a new listen port keeps the sessions; a port in use is refused, then retried', async () => {
    const { a, b } = await pair({ a: { passive: true } });
    const st = await untilState(a.speaker, B, 'established');
    const taken = createServer();
    const busy = await freePort();
    await new Promise<void>((resolve) => taken.listen(busy, '::', resolve));
    onTestFinished(() => {
      taken.close();
    });
    await expect(a.speaker.apply({ ...a.config, listenPort: busy })).rejects.toThrow(
      new RegExp(`listener on port ${busy}: .*EADDRINUSE`),
    );
    expect(peer(a.speaker, B)?.establishedAt).toBe(st.establishedAt);
    // Refused, the listener in use stays: b, restarted, reaches a on the old port again.
    await b.speaker.apply({
      ...b.config,
      neighbors: b.config.neighbors.map((n) => ({ ...n, holdTimeSec: 6, keepaliveSec: 2 })),
    });
    await until(() => {
      const p = peer(a.speaker, B);
      return p?.state === 'established' && p.establishedAt !== st.establishedAt && p;
    });
    const st2 = peer(a.speaker, B);
    const next = await freePort();
    await a.speaker.apply({ ...a.config, listenPort: next });
    expect(peer(a.speaker, B)?.establishedAt).toBe(st2?.establishedAt);
    // The new port takes b's connection once b's session is restarted toward it.
    await b.speaker.apply({
      ...b.config,
      neighbors: b.config.neighbors.map((n) => ({ ...n, port: next })),
    });
    await until(() => {
      const p = peer(a.speaker, B);
      return p?.state === 'established' && p.establishedAt !== st2?.establishedAt;
    });
  });
});
