import { describe, expect, it } from 'vitest';
import { checkPrefix, encodeNlri, outRoutes, plainAddress } from './routes.js';
import type { Advertisement } from './types.js';

const ad = (prefix: string, more: Partial<Advertisement> = {}): Advertisement => ({
  prefix,
  communities: [],
  largeCommunities: [],
  ...more,
});

describe('outRoutes', () => {
  it('eBGP: AS_PATH [local AS], no LOCAL_PREF, next hop the session address of the family', () => {
    const t = outRoutes(
      [ad('10.1.0.0/24', { communities: [65000 * 65536 + 100] }), ad('fd00::/64')],
      {
        localAsn: 65001,
        ibgp: false,
        localAddress: '192.0.2.1',
        families: ['ipv4-unicast', 'ipv6-unicast'],
      },
    );
    const r = t.get('ipv4-unicast')?.get('10.1.0.0/24')?.route;
    expect(r?.nextHop).toBe('192.0.2.1');
    expect(r?.attrs).toEqual({
      origin: 0,
      asPath: [{ type: 2, asns: [65001] }],
      communities: [65000 * 65536 + 100],
      unknown: [],
    });
    // No IPv6 next hop on an IPv4 session and none given: not sent.
    expect(t.get('ipv6-unicast')?.size).toBe(0);
  });

  it('iBGP: empty AS_PATH, LOCAL_PREF given or 100; only negotiated families', () => {
    const t = outRoutes(
      [
        ad('10.1.0.0/24', { localPref: 200 }),
        ad('10.2.0.0/24'),
        ad('fd00::/64', { nextHop: 'fd00::1' }),
      ],
      { localAsn: 65001, ibgp: true, localAddress: '192.0.2.1', families: ['ipv4-unicast'] },
    );
    expect(t.get('ipv4-unicast')?.get('10.1.0.0/24')?.route.attrs).toMatchObject({
      asPath: [],
      localPref: 200,
    });
    expect(t.get('ipv4-unicast')?.get('10.2.0.0/24')?.route.attrs.localPref).toBe(100);
    expect(t.has('ipv6-unicast')).toBe(false);
  });

  it('keys change with the attributes and next hop', () => {
    const ctx = {
      localAsn: 1,
      ibgp: false,
      localAddress: '192.0.2.1',
      families: ['ipv4-unicast'] as const,
    };
    const key = (a: Advertisement) => outRoutes([a], ctx).get('ipv4-unicast')?.get(a.prefix)?.key;
    expect(key(ad('10.0.0.0/8'))).toBe(key(ad('10.0.0.0/8')));
    expect(key(ad('10.0.0.0/8'))).not.toBe(key(ad('10.0.0.0/8', { communities: [1] })));
    expect(key(ad('10.0.0.0/8'))).not.toBe(key(ad('10.0.0.0/8', { nextHop: '192.0.2.9' })));
  });

  it('routes with the same attributes share one attributes object (encoded once when packed)', () => {
    const ctx = {
      localAsn: 1,
      ibgp: true,
      localAddress: '192.0.2.1',
      families: ['ipv4-unicast'] as const,
    };
    const t = outRoutes(
      [
        ad('10.0.0.1/32', { communities: [5] }),
        ad('10.0.0.2/32', { communities: [5] }),
        ad('10.0.0.3/32', { communities: [5], localPref: 200 }),
        ad('10.0.0.4/32', { communities: [6] }),
      ],
      ctx,
    ).get('ipv4-unicast');
    const attrs = (p: string) => t?.get(p)?.route.attrs;
    expect(attrs('10.0.0.1/32')).toBe(attrs('10.0.0.2/32'));
    expect(attrs('10.0.0.3/32')).not.toBe(attrs('10.0.0.1/32'));
    expect(attrs('10.0.0.3/32')?.localPref).toBe(200);
    expect(attrs('10.0.0.4/32')?.communities).toEqual([6]);
  });
});

describe('checkPrefix', () => {
  it('accepts canonical CIDRs and names what is wrong otherwise', () => {
    expect(() => checkPrefix('10.1.0.0/24')).not.toThrow();
    expect(() => checkPrefix('fd00:1::/64')).not.toThrow();
    expect(() => checkPrefix('10.1.0.1/24')).toThrow(
      /'10.1.0.1\/24' is not canonical \(10.1.0.0\/24\)/,
    );
    expect(() => checkPrefix('10.1.0.0')).toThrow(/not a CIDR/);
    expect(() => checkPrefix('10.1.0.0/33')).toThrow(/not a CIDR/);
    expect(() => checkPrefix('fd00:0::/64')).toThrow(/not canonical/);
  });
});

describe('encodeNlri', () => {
  it('writes the length then the significant octets', () => {
    expect([...encodeNlri('10.1.128.0/17')]).toEqual([17, 10, 1, 128]);
    expect([...encodeNlri('0.0.0.0/0')]).toEqual([0]);
    expect([...encodeNlri('fd00:1::/32')]).toEqual([32, 0xfd, 0, 0, 1]);
    expect([...encodeNlri('172.20.0.10/32')]).toEqual([32, 172, 20, 0, 10]);
  });
});

describe('plainAddress', () => {
  it('drops the v4-mapped form', () => {
    expect(plainAddress('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(plainAddress('fd00::1')).toBe('fd00::1');
  });
});
