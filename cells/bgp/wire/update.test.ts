import { describe, expect, it } from 'vitest';
import { encodeAttrs } from './attrs-encode.js';
import { decodeMessage } from './decode.js';
import { attr, baseAttrs, hex, updateBody } from './fixtures.js';
import type { PathAttrs, UpdateMsg, WireContext } from './types.js';
import { encodeEndOfRib, encodeUpdate, endOfRibFamily } from './update.js';

const EBGP4: WireContext = { as4: true, ibgp: false };
const IBGP4: WireContext = { as4: true, ibgp: true };
const IBGP2: WireContext = { as4: false, ibgp: true };
const MARKER = 'ffffffffffffffffffffffffffffffff';

function decode(bytes: Uint8Array, ctx: WireContext) {
  return decodeMessage(bytes[18] ?? 0, bytes.subarray(19), ctx);
}

// RFC 4271 §4.3: withdrawn 10.9.0.0/16; ORIGIN IGP, AS_PATH (65001 65002), NEXT_HOP, MED 100,
// COMMUNITIES (65000:100 no-export, RFC 1997), LARGE_COMMUNITY 65000:1:1 (RFC 8092); NLRI
// 10.1.0.0/24 and 10.2.3.128/25.
const V4_UPDATE = hex(`
  ${MARKER} 005c 02
  0003 10 0a09
  0039
    40 01 01 00
    40 02 0a 02 02 0000fde9 0000fdea
    40 03 04 c0000201
    80 04 04 00000064
    c0 08 08 fde80064 ffffff01
    c0 20 0c 0000fde8 00000001 00000001
  18 0a0100  19 0a020380
`);
const V4_MSG: UpdateMsg = {
  type: 'update',
  withdrawn: ['10.9.0.0/16'],
  nlri: ['10.1.0.0/24', '10.2.3.128/25'],
  attrs: {
    origin: 0,
    asPath: [{ type: 2, asns: [65001, 65002] }],
    nextHop: '192.0.2.1',
    med: 100,
    communities: [0xfde80064, 0xffffff01],
    largeCommunities: [[65000, 1, 1]],
    unknown: [],
  },
};

// RFC 4760 §3: MP_REACH_NLRI first (RFC 7606 §5.1), a global and a link-local next hop
// (32 bytes), fd00:1::/64 and 2001:db8::/32.
const V6_UPDATE = hex(`
  ${MARKER} 005a 02
  0000
  0043
    80 0e 33 0002 01 20 fd000000000000000000000000000001 fe800000000000000000000000000001 00
      40 fd00000100000000  20 20010db8
    40 01 01 00
    40 02 06 02 01 0000fde9
`);
const V6_MSG: UpdateMsg = {
  type: 'update',
  withdrawn: [],
  nlri: [],
  attrs: { origin: 0, asPath: [{ type: 2, asns: [65001] }], unknown: [] },
  mpReach: {
    family: 'ipv6-unicast',
    nextHops: ['fd00::1', 'fe80::1'],
    nlri: ['fd00:1::/64', '2001:db8::/32'],
  },
};

const V6_WITHDRAW = hex(`${MARKER} 0026 02 0000 000f 80 0f 0c 0002 01 40 fd00000100000000`);

describe('UPDATE', () => {
  it('encodes IPv4 routes byte for byte as the RFC layout and decodes them back', () => {
    const { type: _t, ...u } = V4_MSG;
    expect(encodeUpdate(u, EBGP4)).toEqual(V4_UPDATE);
    expect(decode(V4_UPDATE, EBGP4)).toEqual({ ok: true, msg: V4_MSG });
  });

  it('encodes IPv6 routes in MP_REACH_NLRI with a link-local next hop and decodes them back', () => {
    const { type: _t, ...u } = V6_MSG;
    expect(encodeUpdate(u, EBGP4)).toEqual(V6_UPDATE);
    expect(decode(V6_UPDATE, EBGP4)).toEqual({ ok: true, msg: V6_MSG });
  });

  it('encodes and decodes IPv6 withdrawals in MP_UNREACH_NLRI, without other attributes', () => {
    const u = {
      withdrawn: [],
      nlri: [],
      mpUnreach: { family: 'ipv6-unicast' as const, withdrawn: ['fd00:1::/64'] },
    };
    expect(encodeUpdate(u, EBGP4)).toEqual(V6_WITHDRAW);
    expect(decode(V6_WITHDRAW, EBGP4)).toEqual({ ok: true, msg: { type: 'update', ...u } });
  });

  it('encodes End-of-RIB as RFC 4724 §2 says and decodes it as an empty update', () => {
    const v4 = encodeEndOfRib('ipv4-unicast');
    const v6 = encodeEndOfRib('ipv6-unicast');
    expect(v4).toEqual(hex(`${MARKER} 0017 02 0000 0000`));
    expect(v6).toEqual(hex(`${MARKER} 001d 02 0000 0006 80 0f 03 0002 01`));
    expect(decode(v4, EBGP4)).toEqual({
      ok: true,
      msg: { type: 'update', withdrawn: [], nlri: [] },
    });
    expect(decode(v6, EBGP4)).toEqual({
      ok: true,
      msg: {
        type: 'update',
        withdrawn: [],
        nlri: [],
        mpUnreach: { family: 'ipv6-unicast', withdrawn: [] },
      },
    });
  });

  it('tells End-of-RIB markers from other updates', () => {
    const eor = (bytes: Uint8Array) => {
      const d = decode(bytes, EBGP4);
      return d.ok && d.msg.type === 'update' ? endOfRibFamily(d.msg) : 'not an update';
    };
    expect(eor(encodeEndOfRib('ipv4-unicast'))).toBe('ipv4-unicast');
    expect(eor(encodeEndOfRib('ipv6-unicast'))).toBe('ipv6-unicast');
    expect(eor(V4_UPDATE)).toBeUndefined();
    expect(eor(V6_UPDATE)).toBeUndefined();
    expect(eor(V6_WITHDRAW)).toBeUndefined();
  });

  it('masks host bits of received prefixes (RFC 4271 §4.3: they are ignored)', () => {
    const body = updateBody(
      [0x14, 10, 1, 0xff],
      baseAttrs(),
      [0x19, 10, 2, 3, 0xff, 0x00, 0x08, 1],
    );
    expect(decodeMessage(2, body, EBGP4)).toMatchObject({
      ok: true,
      msg: { withdrawn: ['10.1.240.0/20'], nlri: ['10.2.3.128/25', '0.0.0.0/0', '1.0.0.0/8'] },
    });
    const v6 = updateBody(
      [],
      [
        attr(
          0x80,
          14,
          hex('0002 01 10 fd000000000000000000000000000001 00 41 fd00000100000000ff 00'),
        ),
        ...baseAttrs(),
      ],
    );
    expect(decodeMessage(2, v6, EBGP4)).toMatchObject({
      ok: true,
      msg: { mpReach: { nlri: ['fd00:1:0:0:8000::/65', '::/0'] } },
    });
  });

  const ALL: PathAttrs = {
    origin: 1,
    asPath: [
      { type: 2, asns: [65001, 4200000000, 65003] },
      { type: 1, asns: [64512, 64513] },
    ],
    nextHop: '192.0.2.1',
    med: 0,
    localPref: 200,
    atomicAggregate: true,
    aggregator: { asn: 4200000001, address: '192.0.2.9' },
    communities: [0xffffff02, 0xfde80064],
    largeCommunities: [
      [4200000000, 1, 2],
      [1, 0, 4294967295],
    ],
    originatorId: '10.0.0.7',
    clusterList: ['10.0.0.1', '10.0.0.2'],
    unknown: [
      { flags: 0xc0, code: 99, value: hex('0102') },
      { flags: 0xc0, code: 200, value: new Uint8Array(300).fill(7) },
    ],
  };

  it.each([
    ['4-octet', IBGP4],
    ['2-octet (AS_TRANS + AS4_PATH/AS4_AGGREGATOR)', IBGP2],
  ])('round-trips every modelled attribute on a %s iBGP session', (_what, ctx) => {
    const u = { withdrawn: ['10.0.0.0/8'], nlri: ['10.1.0.0/16', '0.0.0.0/0'], attrs: ALL };
    expect(decode(encodeUpdate(u, ctx), ctx)).toEqual({ ok: true, msg: { type: 'update', ...u } });
  });

  it('lists each attribute in code order for the API, with MP_REACH_NLRI at 14 and LOCAL_PREF only for iBGP', () => {
    const mp = { family: 'ipv6-unicast' as const, nextHops: ['fd00::1'], nlri: ['fd00::/64'] };
    const codes = (ctx: WireContext) => encodeAttrs(ALL, ctx, mp).map((a) => a[1]);
    expect(codes(IBGP2)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 17, 18, 32, 99, 200]);
    expect(codes(EBGP4)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 14, 32, 99, 200]);
    expect(encodeAttrs(ALL, IBGP4).at(-1)?.subarray(0, 4)).toEqual(
      hex('d0 c8 012c').subarray(0, 4),
    );
  });

  it('refuses to encode what it cannot, naming the problem', () => {
    const a = V4_MSG.attrs!;
    expect(() =>
      encodeUpdate(
        { withdrawn: [], nlri: ['10.0.0.0/8'], attrs: { ...a, nextHop: undefined } },
        EBGP4,
      ),
    ).toThrow(/needs attrs with a nextHop/);
    expect(() => encodeUpdate({ withdrawn: ['fd00::/8'], nlri: [] }, EBGP4)).toThrow(
      /fd00::\/8 is not of family ipv4-unicast/,
    );
    expect(() => encodeUpdate({ withdrawn: ['10.0.0.0/33'], nlri: [] }, EBGP4)).toThrow(
      /'10.0.0.0\/33' is not an IP prefix/,
    );
    const many = Array.from({ length: 1100 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    expect(() => encodeUpdate({ withdrawn: many, nlri: [] }, EBGP4)).toThrow(RangeError);
    expect(() =>
      encodeUpdate(
        { withdrawn: [], nlri: ['10.0.0.0/8'], attrs: { ...a, nextHop: 'fd00::1' } },
        EBGP4,
      ),
    ).toThrow(/NEXT_HOP 'fd00::1' is not an IPv4 address/);
    const raw = { ...a, unknown: [{ flags: 0xc0, code: 8, value: new Uint8Array(4) }] };
    expect(() => encodeUpdate({ withdrawn: [], nlri: [], attrs: raw }, EBGP4)).toThrow(
      /code 8 is a modelled attribute/,
    );
  });
});
