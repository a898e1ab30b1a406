// What a peer can make the speaker hold: ROUTE-REFRESHes asked faster than the answers are
// read get one answer (not one copy of the adj-RIB-out each), and routes past the neighbor's
// maxPrefixes end the session with Cease 1 (RFC 4486) instead of growing the adj-RIB-in, and
// bytes that follow a fatal error are dropped, not buffered.
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { decodeMessage, encodeRouteRefresh, encodeUpdate, MessageReader } from '../wire/index.js';
import { MSG, type UpdateMsg } from '../wire/types.js';
import { freePort } from '../../../core/testing/ports.js';
import { neighbor, peer, startSpeaker, testLog, until, untilState } from './fixtures.js';
import { newSpeaker } from './speaker.js';
import { RawPeer, type RawMessage } from './raw-peer.js';
import type { Advertisement } from './types.js';

const REFRESH_PEER = '127.0.0.21';
const MAX_PEER = '127.0.0.22';
const FLOOD_PEER = '127.0.0.23';
const STRANGER = '127.0.0.24';
const ctx = { as4: true, ibgp: false };

/** The End-of-RIB family of a message, if it is one (only short UPDATEs are decoded). */
function eorOf(m: RawMessage): string | undefined {
  if (m.type !== MSG.UPDATE || m.body.length > 16) return undefined;
  const d = decodeMessage(m.type, m.body, ctx);
  if (!d.ok || d.msg.type !== 'update') return undefined;
  const u: UpdateMsg = d.msg;
  if (u.nlri.length > 0 || u.withdrawn.length > 0 || u.mpReach) return undefined;
  if (u.mpUnreach) return u.mpUnreach.withdrawn.length === 0 ? u.mpUnreach.family : undefined;
  return u.attrs ? undefined : 'ipv4-unicast';
}

/** The End-of-RIBs a peer received, in order, read once each. */
function eorCounter(p: RawPeer): () => string[] {
  const seen: string[] = [];
  let read = 0;
  return () => {
    for (; read < p.received.length; read++) {
      const m = p.received[read];
      const f = m && eorOf(m);
      if (f) seen.push(f);
    }
    return seen;
  };
}

/** `n` distinct /24s from 10.0.0.0 on, starting at the `from`th. */
function prefixes(n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    return `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}/32`;
  });
}

function announce(nlri: string[]): Uint8Array {
  return encodeUpdate(
    {
      withdrawn: [],
      nlri,
      attrs: {
        origin: 0,
        asPath: [{ type: 2, asns: [65000] }],
        nextHop: MAX_PEER,
        communities: [],
        largeCommunities: [],
        unknown: [],
      },
    },
    ctx,
  );
}

describe('resource bounds against a hostile peer', () => {
  it('a ROUTE-REFRESH storm is answered once per backed-up socket, not once per request', async () => {
    const s = await startSpeaker('127.0.0.1', '1.1.1.1', () => [
      neighbor({ address: REFRESH_PEER, port: 179, passive: true }),
    ]);
    const routes: Advertisement[] = prefixes(20_000).map((prefix) => ({
      prefix,
      communities: [],
      largeCommunities: [],
    }));
    s.speaker.setAdvertisements(REFRESH_PEER, routes);
    const p = await RawPeer.connect(s.port, REFRESH_PEER);
    await p.handshake();
    await untilState(s.speaker, REFRESH_PEER, 'established');
    const eors = eorCounter(p);
    await until(() => eors().length === 2);
    const before = eors().length;

    // 500 asks for the IPv4 table (20,000 routes, ~100 KB each answer) in one write, then
    // one for IPv6: its End-of-RIB comes after every IPv4 answer the speaker chose to send.
    const storm = new Uint8Array(23 * 501);
    for (let i = 0; i < 500; i++) storm.set(encodeRouteRefresh('ipv4-unicast'), i * 23);
    storm.set(encodeRouteRefresh('ipv6-unicast'), 500 * 23);
    p.send(storm);
    await until(() => eors().slice(before).includes('ipv6-unicast'));
    const answers = eors()
      .slice(before)
      .filter((f) => f === 'ipv4-unicast').length;
    // The answers the kernel's socket buffers took at once (~45 with 4 MB of them), plus one
    // queued behind them; before: all 500, 50 MB queued in the agent.
    expect(answers).toBeGreaterThan(0);
    expect(answers).toBeLessThan(250);
    expect(peer(s.speaker, REFRESH_PEER)?.state).toBe('established');
  });

  it('routes past maxPrefixes: Cease 1, the adj-RIB-in freed, no new session for a while', async () => {
    let now = 1_000_000;
    const speaker = newSpeaker({ restarting: false, log: testLog('max'), now: () => now });
    onTestFinished(() => speaker.stop({ graceful: false }));
    const port = await freePort();
    const n = neighbor({
      address: MAX_PEER,
      port: 179,
      passive: true,
      maxPrefixes: 1000,
      connectRetrySec: 30,
    });
    await speaker.apply({ routerId: '1.1.1.1', listenPort: port, neighbors: [n] });
    const p = await RawPeer.connect(port, MAX_PEER);
    await p.handshake();
    await untilState(speaker, MAX_PEER, 'established');
    // Exactly the limit is fine.
    p.send(announce(prefixes(500)));
    p.send(announce(prefixes(500, 500)));
    await until(() => peer(speaker, MAX_PEER)?.families[0]?.received === 1000);
    p.send(announce(prefixes(1, 1000)));
    // AFI 1, SAFI 1, upper bound 1000 (RFC 4486 §4).
    expect(await p.notification()).toEqual({
      code: 6,
      subcode: 1,
      data: [0, 1, 1, 0, 0, 3, 232],
    });
    await until(() => peer(speaker, MAX_PEER)?.state === 'active');
    expect(speaker.ribIn(MAX_PEER, 'ipv4-unicast')).toEqual([]);
    expect(peer(speaker, MAX_PEER)?.lastError).toMatch(/maximum number of prefixes/);

    // For connectRetryTimeSeconds the peer cannot come back to flood again: Cease 5.
    const again = await RawPeer.connect(port, MAX_PEER);
    expect(await again.notification()).toEqual({ code: 6, subcode: 5, data: [] });
    now += 30_000;
    const later = await RawPeer.connect(port, MAX_PEER);
    await later.handshake();
    await untilState(speaker, MAX_PEER, 'established');
  });

  it('what a peer sends after the NOTIFICATION that ends its session is not buffered', async () => {
    const s = await startSpeaker('127.0.0.1', '1.1.1.1', () => [
      neighbor({ address: FLOOD_PEER, port: 179, passive: true }),
    ]);
    // Counts what every reader takes (the peer's included: its NOTIFICATION's 21 bytes).
    const spy = vi.spyOn(MessageReader.prototype, 'push'); // calls through
    onTestFinished(() => spy.mockRestore());
    const p = await RawPeer.connect(s.port, FLOOD_PEER);
    // A header without marker (1/1), then 4 MB in the same write: they arrive while the
    // speaker flushes its NOTIFICATION (up to 2 s; on a fast link, gigabytes).
    const flood = new Uint8Array(19 + (4 << 20));
    p.send(flood);
    expect((await p.notification()).code).toBe(1);
    await p.untilClosed();
    // The chunk the bad header came in (≤ 64 KB) was read; nothing after it. Before: 4 MB.
    const taken = spy.mock.calls.reduce((n, [chunk]) => n + chunk.length, 0);
    expect(taken).toBeLessThan(256 << 10);
  });

  it('a connection flood from an unconfigured address is logged once a minute, counted', async () => {
    let now = 1_000_000;
    const log = testLog('stranger');
    const speaker = newSpeaker({ restarting: false, log, now: () => now });
    onTestFinished(() => speaker.stop({ graceful: false }));
    const port = await freePort();
    await speaker.apply({ routerId: '1.1.1.1', listenPort: port, neighbors: [] });
    const lines = () => log.entries.filter((e) => e.msg.includes('unconfigured address'));
    const knock = async (n: number) => {
      for (let i = 0; i < n; i++) await (await RawPeer.connect(port, STRANGER)).untilClosed();
    };
    await knock(200);
    // Before: 200 lines.
    expect(lines()).toHaveLength(1);
    now += 60_000;
    await knock(1);
    expect(lines().map((e) => e.o)).toEqual([
      { from: [STRANGER], connections: 1 },
      { from: [STRANGER], connections: 200 },
    ]);
  });
});
