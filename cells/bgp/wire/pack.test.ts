import { describe, expect, it } from 'vitest';
import { canonicalPrefix } from './addr.js';
import { decodeMessage } from './decode.js';
import { packUpdates, packWithdrawals } from './pack.js';
import type { Family, OutRoute, PathAttrs, UpdateMsg, WireContext } from './types.js';
import { MAX_MESSAGE } from './types.js';

const EBGP: WireContext = { as4: true, ibgp: false };
const ATTRS: PathAttrs = {
  origin: 0,
  asPath: [{ type: 2, asns: [65001] }],
  communities: [0xfde80064],
  unknown: [],
};

const v4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;
const v6 = (i: number) => `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128`;

function decodeAll(msgs: readonly Uint8Array[], ctx: WireContext): UpdateMsg[] {
  return msgs.map((m) => {
    expect(m.length).toBeLessThanOrEqual(MAX_MESSAGE);
    expect((m[16]! << 8) | m[17]!).toBe(m.length);
    const d = decodeMessage(m[18]!, m.subarray(19), ctx);
    if (!d.ok || d.msg.type !== 'update' || d.treatAsWithdraw || d.discarded) {
      throw new Error(`packed message does not decode cleanly: ${JSON.stringify(d)}`);
    }
    // RFC 7606 §5.1: one of withdrawn routes, NLRI, MP_REACH_NLRI, MP_UNREACH_NLRI per message.
    const u = d.msg;
    const fields = [u.withdrawn.length > 0, u.nlri.length > 0, !!u.mpReach, !!u.mpUnreach];
    expect(fields.filter(Boolean)).toHaveLength(1);
    return u;
  });
}

/** Runs `f` three times and prints how long each took (the first includes JIT warm-up). */
function timed<T>(what: string, f: () => T): T {
  const ms: string[] = [];
  let r: T | undefined;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    r = f();
    ms.push((performance.now() - t).toFixed(1));
  }
  console.log(`${what}: ${ms.join(' / ')} ms`);
  return r as T;
}

describe('packUpdates / packWithdrawals', () => {
  it.each<[Family, (i: number) => string, string, number]>([
    ['ipv4-unicast', v4, '192.0.2.1', 5],
    ['ipv6-unicast', v6, 'fd00::1', 17],
  ])(
    'packs 10,000 %s host routes into full messages that decode to the same set',
    (family, prefix, nextHop, size) => {
      const routes: OutRoute[] = Array.from({ length: 10_000 }, (_, i) => ({
        prefix: prefix(i),
        nextHop,
        attrs: ATTRS,
      }));
      const msgs = timed(`pack 10,000 ${family}`, () => packUpdates(family, routes, EBGP));
      const got = decodeAll(msgs, EBGP);
      const prefixes = got.flatMap((u) =>
        family === 'ipv4-unicast' ? u.nlri : (u.mpReach?.nlri ?? []),
      );
      expect(prefixes).toHaveLength(10_000);
      expect(new Set(prefixes)).toEqual(new Set(routes.map((r) => canonicalPrefix(r.prefix))));
      for (const u of got) {
        expect(u.attrs).toEqual(family === 'ipv4-unicast' ? { ...ATTRS, nextHop } : ATTRS);
        if (family === 'ipv6-unicast') expect(u.mpReach?.nextHops).toEqual([nextHop]);
      }
      // Filled: all but the last message have no room for one more prefix.
      for (const m of msgs.slice(0, -1)) expect(m.length + size).toBeGreaterThan(MAX_MESSAGE);
      const perMessage =
        family === 'ipv4-unicast' ? got[0]!.nlri.length : got[0]!.mpReach!.nlri.length;
      expect(msgs).toHaveLength(Math.ceil(10_000 / perMessage));
    },
  );

  it.each<[Family, (i: number) => string]>([
    ['ipv4-unicast', v4],
    ['ipv6-unicast', v6],
  ])(
    'packs 10,000 %s withdrawals into full messages that decode to the same set',
    (family, prefix) => {
      const prefixes = Array.from({ length: 10_000 }, (_, i) => prefix(i));
      const msgs = timed(`withdraw 10,000 ${family}`, () =>
        packWithdrawals(family, prefixes, EBGP),
      );
      const got = decodeAll(msgs, EBGP);
      const back = got.flatMap((u) =>
        family === 'ipv4-unicast' ? u.withdrawn : (u.mpUnreach?.withdrawn ?? []),
      );
      expect(new Set(back)).toEqual(new Set(prefixes.map(canonicalPrefix)));
      expect(back).toHaveLength(10_000);
      for (const u of got) expect(u.attrs).toBeUndefined();
      const size = family === 'ipv4-unicast' ? 5 : 17;
      for (const m of msgs.slice(0, -1)) expect(m.length + size).toBeGreaterThan(MAX_MESSAGE);
    },
  );

  it('groups routes by attributes and next hop, equal attributes in distinct objects together', () => {
    const other: PathAttrs = { ...ATTRS, communities: [1] };
    const routes: OutRoute[] = [
      { prefix: '10.0.0.0/24', nextHop: '192.0.2.1', attrs: ATTRS },
      { prefix: '10.0.1.0/24', nextHop: '192.0.2.2', attrs: ATTRS },
      { prefix: '10.0.2.0/24', nextHop: '192.0.2.1', attrs: other },
      { prefix: '10.0.3.0/24', nextHop: '192.0.2.1', attrs: { ...ATTRS } },
    ];
    const got = decodeAll(packUpdates('ipv4-unicast', routes, EBGP), EBGP);
    expect(got.map((u) => [u.attrs?.nextHop, u.attrs?.communities, u.nlri])).toEqual([
      ['192.0.2.1', [0xfde80064], ['10.0.0.0/24', '10.0.3.0/24']],
      ['192.0.2.2', [0xfde80064], ['10.0.1.0/24']],
      ['192.0.2.1', [1], ['10.0.2.0/24']],
    ]);
  });

  it('puts LOCAL_PREF in iBGP messages only and ignores attrs.nextHop in favour of the route next hop', () => {
    const attrs = { ...ATTRS, localPref: 300, nextHop: '198.51.100.1' };
    const routes = [{ prefix: 'fd00:1::/64', nextHop: 'fd00::2', attrs }];
    const ibgp = { as4: true, ibgp: true };
    expect(decodeAll(packUpdates('ipv6-unicast', routes, ibgp), ibgp)[0]).toMatchObject({
      attrs: { localPref: 300 },
      mpReach: { nextHops: ['fd00::2'], nlri: ['fd00:1::/64'] },
    });
    expect(decodeAll(packUpdates('ipv6-unicast', routes, EBGP), EBGP)[0]?.attrs).not.toHaveProperty(
      'localPref',
    );
    expect(decodeAll(packUpdates('ipv6-unicast', routes, EBGP), EBGP)[0]?.attrs).not.toHaveProperty(
      'nextHop',
    );
  });

  it('returns nothing for nothing', () => {
    expect(packUpdates('ipv4-unicast', [], EBGP)).toEqual([]);
    expect(packWithdrawals('ipv6-unicast', [], EBGP)).toEqual([]);
  });

  it('refuses routes that do not fit the family or a message, naming them', () => {
    const r = (prefix: string, nextHop: string, attrs = ATTRS) => [{ prefix, nextHop, attrs }];
    expect(() => packUpdates('ipv4-unicast', r('fd00::/64', '192.0.2.1'), EBGP)).toThrow(
      /fd00::\/64 is not of family ipv4-unicast/,
    );
    expect(() => packUpdates('ipv4-unicast', r('10.0.0.0/8', 'fd00::1'), EBGP)).toThrow(
      /next hop 'fd00::1' is not an IPv4 address/,
    );
    expect(() => packUpdates('ipv6-unicast', r('fd00::/64', '192.0.2.1'), EBGP)).toThrow(
      /next hop '192.0.2.1' is not an IPv6 address/,
    );
    expect(() => packWithdrawals('ipv6-unicast', ['10.0.0.0/8'], EBGP)).toThrow(
      /10.0.0.0\/8 is not of family ipv6-unicast/,
    );
    const huge = { ...ATTRS, unknown: [{ flags: 0xc0, code: 99, value: new Uint8Array(4070) }] };
    expect(() => packUpdates('ipv4-unicast', r('10.0.0.0/8', '192.0.2.1', huge), EBGP)).toThrow(
      /leave no room for a prefix/,
    );
  });
});
