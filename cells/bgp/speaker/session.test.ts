// The FSM against a raw peer: hold timer, messages unexpected in a state (RFC 6608), route
// refresh, batching of advertisement changes, and the graceful restart R bit.
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeEndOfRib,
  encodeKeepalive,
  encodeRouteRefresh,
  encodeUpdate,
} from '../wire/index.js';
import { MSG, type OpenMsg, type UpdateMsg } from '../wire/types.js';
import { neighbor, peer, startSpeaker, until, untilState, type TestSpeaker } from './fixtures.js';
import { RawPeer, rawOpen, type RawMessage } from './raw-peer.js';
import type { Advertisement, NeighborConfig } from './types.js';

const PEER = '127.0.0.6';
const ctx = { as4: true, ibgp: false };

function speaker(over: Partial<NeighborConfig> = {}, restarting = false): Promise<TestSpeaker> {
  return startSpeaker(
    '127.0.0.1',
    '1.1.1.1',
    () => [neighbor({ address: PEER, port: 179, passive: true, ...over })],
    { restarting },
  );
}

const ad = (prefix: string): Advertisement => ({ prefix, communities: [], largeCommunities: [] });

function asUpdate(m: RawMessage): UpdateMsg {
  const d = decodeMessage(m.type, m.body, ctx);
  if (!d.ok || d.msg.type !== 'update') throw new Error(`not an UPDATE: ${JSON.stringify(d)}`);
  return d.msg;
}

function asOpen(m: RawMessage): OpenMsg {
  const d = decodeMessage(m.type, m.body, ctx);
  if (!d.ok || d.msg.type !== 'open') throw new Error('not an OPEN');
  return d.msg;
}

const isEor = (u: UpdateMsg): boolean =>
  u.nlri.length === 0 &&
  u.withdrawn.length === 0 &&
  !u.mpReach &&
  (u.mpUnreach ? u.mpUnreach.withdrawn.length === 0 : !u.attrs);

/** Reads UPDATEs until the End-of-RIB of both families; returns the others. */
async function untilEors(p: RawPeer): Promise<UpdateMsg[]> {
  const got: UpdateMsg[] = [];
  let eors = 0;
  while (eors < 2) {
    const u = asUpdate(await p.nextOf(MSG.UPDATE));
    if (isEor(u)) eors++;
    else got.push(u);
  }
  return got;
}

describe('session FSM', () => {
  it('hold timer: a peer that stops answering gets NOTIFICATION 4/0', async () => {
    const s = await speaker();
    const p = await RawPeer.connect(s.port, PEER);
    await p.handshake(rawOpen({ holdTimeSec: 3 }));
    const st = await untilState(s.speaker, PEER, 'established');
    expect([st.appliedHoldTimeSec, st.appliedKeepaliveSec]).toEqual([3, 1]);
    // The peer now reads but never writes (as a frozen router would).
    expect(await p.notification()).toEqual({ code: 4, subcode: 0, data: [] });
    // Meanwhile the speaker kept sending its KEEPALIVEs (every second).
    expect(p.received.filter((m) => m.type === MSG.KEEPALIVE).length).toBeGreaterThan(1);
    await until(() => peer(s.speaker, PEER)?.state === 'active');
    expect(peer(s.speaker, PEER)?.lastError).toBe('hold timer expired');
  });

  it('KEEPALIVEs from the peer keep the session past the hold time', async () => {
    const s = await speaker();
    const p = await RawPeer.connect(s.port, PEER);
    await p.handshake(rawOpen({ holdTimeSec: 3 }));
    const st = await untilState(s.speaker, PEER, 'established');
    // Answer each of the speaker's keepalives until five have gone by (≥ 4 s > hold time).
    let seen = 0;
    while (seen < 5) {
      await p.nextOf(MSG.KEEPALIVE);
      p.send(encodeKeepalive());
      seen++;
    }
    expect(peer(s.speaker, PEER)?.establishedAt).toBe(st.establishedAt);
  });

  it.each([
    ['KEEPALIVE in OpenSent', 'opensent', 1],
    ['UPDATE in OpenConfirm', 'openconfirm', 2],
    ['OPEN in Established', 'established', 3],
  ] as const)('%s → NOTIFICATION 5/%i', async (_name, state, subcode) => {
    const s = await speaker();
    const p = await RawPeer.connect(s.port, PEER);
    if (state === 'opensent') {
      await p.nextOf(MSG.OPEN);
      p.send(encodeKeepalive());
    } else if (state === 'openconfirm') {
      p.send(rawOpen());
      await p.nextOf(MSG.KEEPALIVE);
      p.send(encodeUpdate({ withdrawn: ['10.0.0.0/8'], nlri: [] }, ctx));
    } else {
      await p.handshake();
      await untilState(s.speaker, PEER, 'established');
      p.send(rawOpen());
    }
    expect(await p.notification()).toEqual({ code: 5, subcode, data: [] });
  });

  it('ROUTE-REFRESH resends the family, then End-of-RIB', async () => {
    const s = await speaker();
    s.speaker.setAdvertisements(PEER, [ad('10.1.0.0/24'), ad('10.2.0.0/24')]);
    const p = await RawPeer.connect(s.port, PEER);
    await p.handshake();
    const first = await untilEors(p);
    expect(first.flatMap((u) => u.nlri).sort()).toEqual(['10.1.0.0/24', '10.2.0.0/24']);
    expect(first[0]?.attrs?.nextHop).toBe('127.0.0.1');
    p.send(encodeRouteRefresh('ipv4-unicast'));
    const again: UpdateMsg[] = [];
    for (;;) {
      const u = asUpdate(await p.nextOf(MSG.UPDATE));
      if (isEor(u)) break;
      again.push(u);
    }
    expect(again.flatMap((u) => u.nlri).sort()).toEqual(['10.1.0.0/24', '10.2.0.0/24']);
  });

  it('many setAdvertisements calls in one tick make one UPDATE', async () => {
    const s = await speaker();
    const p = await RawPeer.connect(s.port, PEER);
    await p.handshake();
    expect(await untilEors(p)).toEqual([]);
    const all = Array.from({ length: 100 }, (_, i) => ad(`10.3.${i}.0/24`));
    for (let i = 1; i <= all.length; i++) s.speaker.setAdvertisements(PEER, all.slice(0, i));
    const u = asUpdate(await p.nextOf(MSG.UPDATE));
    expect(u.nlri).toHaveLength(100);
    // Then only a withdrawal of what went, in one UPDATE again.
    for (let i = 99; i >= 50; i--) s.speaker.setAdvertisements(PEER, all.slice(0, i));
    const w = asUpdate(await p.nextOf(MSG.UPDATE));
    expect(w.withdrawn).toHaveLength(50);
    expect(w.nlri).toEqual([]);
    await until(() => s.speaker.ribOut(PEER, 'ipv4-unicast').length === 50);
  });

  it('graceful restart: the R bit only on the first session of a restarting speaker', async () => {
    const s = await speaker({ gracefulRestart: { enabled: true, restartTimeSec: 77 } }, true);
    const p1 = await RawPeer.connect(s.port, PEER);
    const o1 = asOpen(await p1.handshake());
    expect(o1.caps.gracefulRestart).toEqual({
      restarting: true,
      restartTimeSec: 77,
      families: [
        { family: 'ipv4-unicast', forwardingPreserved: true },
        { family: 'ipv6-unicast', forwardingPreserved: true },
      ],
    });
    await untilState(s.speaker, PEER, 'established');
    p1.socket.destroy();
    await until(() => peer(s.speaker, PEER)?.state === 'active');
    const p2 = await RawPeer.connect(s.port, PEER);
    const o2 = asOpen(await p2.handshake());
    expect(o2.caps.gracefulRestart?.restarting).toBe(false);
    // A reconfigured neighbor is the same neighbor: still no R bit.
    await untilState(s.speaker, PEER, 'established');
    await s.speaker.apply({
      ...s.config,
      neighbors: s.config.neighbors.map((n) => ({ ...n, holdTimeSec: 6 })),
    });
    expect(await p2.notification()).toEqual({ code: 6, subcode: 6, data: [] });
    const p3 = await RawPeer.connect(s.port, PEER);
    const o3 = asOpen(await p3.handshake());
    expect([o3.holdTimeSec, o3.caps.gracefulRestart?.restarting]).toEqual([6, false]);
  });

  it('graceful restart: after a restart End-of-RIB waits for the routes (a ROUTE-REFRESH too)', async () => {
    const s = await speaker({ gracefulRestart: { enabled: true, restartTimeSec: 120 } }, true);
    const p = await RawPeer.connect(s.port, PEER);
    await p.handshake();
    await untilState(s.speaker, PEER, 'established');
    // The peer asks for the routes, then announces one: once the speaker has that route, it
    // has handled the ROUTE-REFRESH (same connection, in order).
    p.send(encodeRouteRefresh('ipv4-unicast'));
    p.send(
      encodeUpdate(
        {
          withdrawn: [],
          nlri: ['10.8.0.0/24'],
          attrs: { origin: 0, asPath: [{ type: 2, asns: [65000] }], nextHop: PEER, unknown: [] },
        },
        ctx,
      ),
    );
    await until(() => s.speaker.ribIn(PEER, 'ipv4-unicast').length === 1);
    // Only now the control plane has the node's routes: they come first, then End-of-RIB (an
    // End-of-RIB before them would make the peer drop every stale route of this node).
    s.speaker.setAdvertisements(PEER, [ad('10.1.0.0/24'), ad('10.2.0.0/24')]);
    const first = asUpdate(await p.nextOf(MSG.UPDATE));
    expect(isEor(first)).toBe(false);
    expect([...first.nlri].sort()).toEqual(['10.1.0.0/24', '10.2.0.0/24']);
    expect(await untilEors(p)).toEqual([]);
  });

  it('graceful restart: a peer reconnecting while established restarted; its routes stay stale until its End-of-RIB', async () => {
    const s = await speaker({ gracefulRestart: { enabled: true, restartTimeSec: 120 } });
    const grOpen = (restarting: boolean) =>
      rawOpen({
        caps: {
          multiprotocol: ['ipv4-unicast'],
          routeRefresh: true,
          as4: 65000,
          gracefulRestart: {
            restarting,
            restartTimeSec: 60,
            families: [{ family: 'ipv4-unicast', forwardingPreserved: true }],
          },
          unknown: [],
        },
      });
    const announce = (prefix: string) =>
      encodeUpdate(
        {
          withdrawn: [],
          nlri: [prefix],
          attrs: { origin: 0, asPath: [{ type: 2, asns: [65000] }], nextHop: PEER, unknown: [] },
        },
        ctx,
      );
    const routes = () =>
      s.speaker.ribIn(PEER, 'ipv4-unicast').map((r) => `${r.prefix}${r.stale ? ' stale' : ''}`);
    const p1 = await RawPeer.connect(s.port, PEER);
    await p1.handshake(grOpen(false));
    p1.send(announce('10.8.0.0/24'));
    p1.send(announce('10.9.0.0/24'));
    await until(() => routes().length === 2);
    // The peer restarted without closing (its old connection is dead to it): a new one comes.
    const p2 = await RawPeer.connect(s.port, PEER);
    await p1.untilClosed();
    expect(p1.received.filter((m) => m.type === MSG.NOTIFICATION)).toEqual([]);
    expect(routes().sort()).toEqual(['10.8.0.0/24 stale', '10.9.0.0/24 stale']);
    await p2.handshake(grOpen(true));
    await untilState(s.speaker, PEER, 'established');
    p2.send(announce('10.9.0.0/24'));
    await until(() => routes().sort().join() === '10.8.0.0/24 stale,10.9.0.0/24');
    p2.send(encodeEndOfRib('ipv4-unicast'));
    await until(() => routes().join() === '10.9.0.0/24');
  });

  it('an IPv6 session: IPv6 routes get its local address as next hop, IPv4 ones need one given', async () => {
    const s = await startSpeaker('::1', '1.1.1.1', () => [
      neighbor({ address: '::1', port: 179, passive: true }),
    ]);
    s.speaker.setAdvertisements('::1', [
      ad('fd00:1::/64'),
      ad('10.1.0.0/24'),
      { ...ad('10.2.0.0/24'), nextHop: '192.0.2.7' },
    ]);
    const p = await RawPeer.connect(s.port, '::1');
    await p.handshake();
    const got = await untilEors(p);
    const v6 = got.find((u) => u.mpReach);
    expect(v6?.mpReach).toEqual({
      family: 'ipv6-unicast',
      nextHops: ['::1'],
      nlri: ['fd00:1::/64'],
    });
    const v4 = got.filter((u) => u.nlri.length > 0);
    expect(v4.flatMap((u) => u.nlri)).toEqual(['10.2.0.0/24']);
    expect(v4[0]?.attrs?.nextHop).toBe('192.0.2.7');
    expect(peer(s.speaker, '::1')?.families.map((f) => f.advertised)).toEqual([1, 1]);
  });
});
