import { describe, expect, it } from 'vitest';
import type { PathAttrs, UpdateMsg } from '../wire/types.js';
import { AdjRibIn } from './rib-in.js';

const attrs: PathAttrs = {
  origin: 0,
  asPath: [{ type: 2, asns: [65000] }],
  nextHop: '192.0.2.1',
  unknown: [],
};
const both = ['ipv4-unicast', 'ipv6-unicast'] as const;
const upd = (u: Partial<UpdateMsg>): UpdateMsg => ({
  type: 'update',
  withdrawn: [],
  nlri: [],
  ...u,
});

describe('AdjRibIn', () => {
  it('adds, replaces and withdraws IPv4 and MP routes', () => {
    const rib = new AdjRibIn();
    rib.apply(upd({ attrs, nlri: ['10.0.0.0/24', '10.0.1.0/24'] }), both, false, 1);
    rib.apply(
      upd({
        attrs,
        mpReach: { family: 'ipv6-unicast', nextHops: ['fd00::1'], nlri: ['fd00:1::/64'] },
      }),
      both,
      false,
      2,
    );
    expect(rib.size('ipv4-unicast')).toBe(2);
    expect(rib.table('ipv6-unicast').get('fd00:1::/64')).toMatchObject({
      nextHop: 'fd00::1',
      since: 2,
    });
    rib.apply(upd({ withdrawn: ['10.0.0.0/24'] }), both, false, 3);
    rib.apply(
      upd({ mpUnreach: { family: 'ipv6-unicast', withdrawn: ['fd00:1::/64'] } }),
      both,
      false,
      3,
    );
    expect([...rib.table('ipv4-unicast').keys()]).toEqual(['10.0.1.0/24']);
    expect(rib.size('ipv6-unicast')).toBe(0);
  });

  it('treat-as-withdraw removes what the UPDATE announces', () => {
    const rib = new AdjRibIn();
    rib.apply(upd({ attrs, nlri: ['10.0.0.0/24'] }), both, false, 1);
    rib.apply(upd({ attrs, nlri: ['10.0.0.0/24'] }), both, true, 2);
    expect(rib.size('ipv4-unicast')).toBe(0);
  });

  it('ignores families not negotiated and recognises End-of-RIB', () => {
    const rib = new AdjRibIn();
    const eor6 = upd({ mpUnreach: { family: 'ipv6-unicast', withdrawn: [] } });
    rib.apply(
      upd({
        attrs,
        mpReach: { family: 'ipv6-unicast', nextHops: ['fd00::1'], nlri: ['fd00:1::/64'] },
      }),
      ['ipv4-unicast'],
      false,
      1,
    );
    expect(rib.size('ipv6-unicast')).toBe(0);
    expect(rib.apply(upd({}), both, false, 1)).toEqual(['ipv4-unicast']);
    expect(rib.apply(eor6, both, false, 1)).toEqual(['ipv6-unicast']);
    expect(rib.apply(upd({ withdrawn: ['10.0.0.0/8'] }), both, false, 1)).toEqual([]);
  });

  it('keeps stale marks until a route is refreshed; drops the rest per family', () => {
    const rib = new AdjRibIn();
    rib.apply(upd({ attrs, nlri: ['10.0.0.0/24', '10.0.1.0/24'] }), both, false, 1);
    expect(rib.markStale()).toBe(2);
    rib.apply(upd({ attrs, nlri: ['10.0.0.0/24'] }), both, false, 5);
    expect(rib.table('ipv4-unicast').get('10.0.0.0/24')).toMatchObject({ stale: false, since: 1 });
    expect(rib.hasStale()).toBe(true);
    expect(rib.dropStale('ipv6-unicast')).toBe(0);
    expect(rib.dropStale('ipv4-unicast')).toBe(1);
    expect(rib.hasStale()).toBe(false);
    expect([...rib.table('ipv4-unicast').keys()]).toEqual(['10.0.0.0/24']);
  });
});
