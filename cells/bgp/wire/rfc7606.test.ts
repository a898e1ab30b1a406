// RFC 7606 error handling: each case asserts the exact action (session reset with its
// NOTIFICATION, treat-as-withdraw, or attribute discard).
import { describe, expect, it } from 'vitest';
import { decodeMessage } from './decode.js';
import { attr, baseAttrs, be16, cat, hex, updateBody } from './fixtures.js';
import type { WireContext } from './types.js';

const EBGP: WireContext = { as4: true, ibgp: false };
const IBGP: WireContext = { as4: true, ibgp: true };
const NLRI = [0x18, 10, 1, 0]; // 10.1.0.0/24
const ORIGIN = attr(0x40, 1, [0]);
const AS_PATH = attr(0x40, 2, hex('02 01 0000fde9'));
const NEXT_HOP = attr(0x40, 3, [192, 0, 2, 1]);
const LOCAL_PREF = attr(0x40, 5, hex('00000064'));
const MP_REACH_V6 = attr(
  0x80,
  14,
  hex('0002 01 10 fd000000000000000000000000000001 00 40 fd00000100000000'),
);

function decode(body: Uint8Array, ctx: WireContext = EBGP) {
  return decodeMessage(2, body, ctx);
}

function expectReset(
  body: Uint8Array,
  subcode: number,
  data: Uint8Array,
  reason: RegExp,
  ctx = EBGP,
): void {
  const d = decode(body, ctx);
  expect(d).toEqual({
    ok: false,
    error: { code: 3, subcode, data, reason: expect.stringMatching(reason) as unknown },
  });
}

function expectWithdraw(body: Uint8Array, reason: RegExp, ctx = EBGP): void {
  const d = decode(body, ctx);
  expect(d.ok && d.treatAsWithdraw).toMatch(reason);
}

function expectDiscard(body: Uint8Array, discarded: RegExp, ctx = EBGP) {
  const d = decode(body, ctx);
  expect(d.ok).toBe(true);
  if (!d.ok) throw new Error('unreachable');
  expect(d.treatAsWithdraw).toBeUndefined();
  expect(d.discarded?.join('; ')).toMatch(discarded);
  return d.msg;
}

const NONE = new Uint8Array(0);

describe('RFC 7606 session reset', () => {
  it('withdrawn routes or attribute length past the message: 3/1 (§3b)', () => {
    expectReset(hex('0010 0000'), 1, NONE, /withdrawn routes length 16 exceeds/);
    expectReset(cat(be16(0), be16(30), ORIGIN), 1, NONE, /total path attribute length 30 exceeds/);
  });

  it('NLRI or withdrawn routes syntactically incorrect: 3/10 (§5.3, RFC 4271 §6.3)', () => {
    expectReset(
      updateBody([], baseAttrs(), [33, 10, 1, 0, 0, 0]),
      10,
      NONE,
      /NLRI: prefix length 33 > 32/,
    );
    expectReset(
      updateBody([], baseAttrs(), [0x18, 10, 1]),
      10,
      NONE,
      /NLRI: prefix \/24 runs past the end/,
    );
    expectReset(
      updateBody([40, 1, 2, 3, 4, 5], []),
      10,
      NONE,
      /withdrawn routes: prefix length 40/,
    );
    expectReset(updateBody([0x10, 10], []), 10, NONE, /withdrawn routes: prefix \/16 runs past/);
  });

  it('MP_REACH_NLRI or MP_UNREACH_NLRI twice: 3/1 (§3g)', () => {
    expectReset(
      updateBody([], [MP_REACH_V6, ...baseAttrs(), MP_REACH_V6]),
      1,
      NONE,
      /MP_REACH_NLRI appears twice/,
    );
    const un = attr(0x80, 15, hex('0002 01'));
    expectReset(updateBody([], [un, un]), 1, NONE, /MP_UNREACH_NLRI appears twice/);
  });

  it.each([
    ['MP_REACH_NLRI shorter than 5', '0002 01 10'],
    ['an IPv6 next hop of 4 bytes', '0002 01 04 c0000201 00 40 fd00000100000000'],
    ['an IPv4 next hop of 16 bytes', '0001 01 10 fd000000000000000000000000000001 00 18 0a0100'],
    ['a next hop past the attribute', '0002 01 20 fd000000000000000000000000000001 00'],
    ['an IPv6 prefix of length 129', '0002 01 10 fd000000000000000000000000000001 00 81 fd'],
    ['an IPv6 prefix past the attribute', '0002 01 10 fd000000000000000000000000000001 00 40 fd00'],
  ])('malformed MP_REACH_NLRI (%s): 3/9 with the attribute (RFC 4760 §7, §5.3)', (_w, value) => {
    const mp = attr(0x80, 14, hex(value));
    expectReset(updateBody([], [mp, ...baseAttrs()]), 9, mp, /MP_REACH_NLRI: /);
  });

  it.each([
    ['MP_UNREACH_NLRI shorter than 3', '0002'],
    ['an IPv4 prefix of length 33', '0001 01 21 0a000000 00'],
    ['a prefix past the attribute', '0002 01 40 fd00'],
  ])('malformed MP_UNREACH_NLRI (%s): 3/9 with the attribute', (_w, value) => {
    const mp = attr(0x80, 15, hex(value));
    expectReset(updateBody([], [mp]), 9, mp, /MP_UNREACH_NLRI: /);
  });

  it('MP_REACH_NLRI with wrong flags: 3/4 with the attribute (§3c, RFC 4760 says reset)', () => {
    const mp = attr(
      0xc0,
      14,
      hex('0002 01 10 fd000000000000000000000000000001 00 40 fd00000100000000'),
    );
    expectReset(updateBody([], [mp, ...baseAttrs()]), 4, mp, /MP_REACH_NLRI flags 0xc0/);
  });

  it('MP_REACH_NLRI running past the attribute section: 3/1 (its prefixes cannot be found)', () => {
    const body = cat(be16(0), be16(5), 0x80, 14, 40, hex('0002 01'));
    expectReset(body, 1, NONE, /MP_REACH_NLRI length 40 runs past/);
  });

  it('an unrecognized well-known attribute: 3/2 with the attribute (RFC 4271 §6.3)', () => {
    const wk = attr(0x40, 99, [1, 2]);
    expectReset(
      updateBody([], [...baseAttrs(), wk], NLRI),
      2,
      wk,
      /unrecognized well-known attribute 99/,
    );
  });

  describe('an error that would withdraw, in an UPDATE announcing nothing (§5.2)', () => {
    const withdrawn = [0x10, 10, 9];
    it.each([
      ['ORIGIN of length 2', attr(0x40, 1, [0, 0]), 5, true, /ORIGIN length 2/],
      ['ORIGIN value 3', attr(0x40, 1, [3]), 6, true, /ORIGIN value 3/],
      ['ORIGIN marked optional', attr(0xc0, 1, [0]), 4, true, /ORIGIN flags 0xc0/],
      [
        'a malformed AS_PATH',
        attr(0x40, 2, hex('02 00')),
        11,
        false,
        /AS_PATH malformed: segment of length 0/,
      ],
      ['COMMUNITIES of 3 bytes', attr(0xc0, 8, [1, 2, 3]), 5, true, /COMMUNITIES length 3/],
      ['NEXT_HOP of 5 bytes', attr(0x40, 3, [1, 2, 3, 4, 5]), 5, true, /NEXT_HOP length 5/],
    ])('%s: the RFC 4271 NOTIFICATION', (_w, bad, subcode, withData, reason) => {
      expectReset(updateBody(withdrawn, [bad]), subcode, withData ? bad : NONE, reason);
    });

    it('an attribute running past the section: 3/1', () => {
      expectReset(cat(be16(0), be16(4), 0x40, 1, 9, 0), 1, NONE, /ORIGIN length 9 runs past/);
    });
  });
});

describe('RFC 7606 treat-as-withdraw', () => {
  const withNlri = (...attrs: Uint8Array[]) => updateBody([], attrs, NLRI);
  it.each([
    ['ORIGIN of length 2 (§7.1)', [attr(0x40, 1, [0, 0]), AS_PATH, NEXT_HOP], /ORIGIN length 2/],
    ['ORIGIN value 3 (§7.1)', [attr(0x40, 1, [3]), AS_PATH, NEXT_HOP], /ORIGIN value 3/],
    ['ORIGIN marked optional (§3c)', [attr(0xc0, 1, [0]), AS_PATH, NEXT_HOP], /ORIGIN flags 0xc0/],
    [
      'AS_PATH segment of length 0 (§7.2)',
      [ORIGIN, attr(0x40, 2, hex('02 00')), NEXT_HOP],
      /segment of length 0/,
    ],
    [
      'AS_PATH segment type 5 (§7.2)',
      [ORIGIN, attr(0x40, 2, hex('05 01 0000fde9')), NEXT_HOP],
      /segment type 5/,
    ],
    [
      'AS_PATH segment overrun (§7.2)',
      [ORIGIN, attr(0x40, 2, hex('02 02 0000fde9')), NEXT_HOP],
      /runs past/,
    ],
    [
      'AS_PATH with 1 byte left (§7.2)',
      [ORIGIN, attr(0x40, 2, hex('02 01 0000fde9 02')), NEXT_HOP],
      /header truncated/,
    ],
    [
      'AS_PATH not transitive (§3c)',
      [ORIGIN, attr(0x00, 2, hex('02 01 0000fde9')), NEXT_HOP],
      /AS_PATH flags 0x0/,
    ],
    [
      'NEXT_HOP of 5 bytes (§7.3)',
      [ORIGIN, AS_PATH, attr(0x40, 3, [1, 2, 3, 4, 5])],
      /NEXT_HOP length 5/,
    ],
    [
      'NEXT_HOP multicast (RFC 4271 §6.3)',
      [ORIGIN, AS_PATH, attr(0x40, 3, [224, 0, 0, 1])],
      /224.0.0.1 is not a unicast/,
    ],
    ['MED of 2 bytes (§7.4)', [...baseAttrs(), attr(0x80, 4, [0, 1])], /MULTI_EXIT_DISC length 2/],
    [
      'MED marked well-known (§3c)',
      [...baseAttrs(), attr(0x40, 4, [0, 0, 0, 1])],
      /MULTI_EXIT_DISC flags 0x40/,
    ],
    ['COMMUNITIES of 0 bytes (§7.8)', [...baseAttrs(), attr(0xc0, 8, [])], /COMMUNITIES length 0/],
    [
      'COMMUNITIES of 6 bytes (§7.8)',
      [...baseAttrs(), attr(0xc0, 8, [1, 2, 3, 4, 5, 6])],
      /COMMUNITIES length 6/,
    ],
    [
      'LARGE_COMMUNITY of 10 bytes (RFC 8092 §6)',
      [...baseAttrs(), attr(0xc0, 32, new Array<number>(10).fill(1))],
      /LARGE_COMMUNITY length 10/,
    ],
    ['missing ORIGIN (§3d)', [AS_PATH, NEXT_HOP], /missing ORIGIN/],
    ['missing AS_PATH (§3d)', [ORIGIN, NEXT_HOP], /missing AS_PATH/],
    ['missing NEXT_HOP with IPv4 NLRI (§3d)', [ORIGIN, AS_PATH], /missing NEXT_HOP/],
  ])('%s', (_w, attrs, reason) => {
    expectWithdraw(withNlri(...attrs), reason);
  });

  it.each([
    [
      'LOCAL_PREF of 2 bytes (§7.5)',
      [...baseAttrs(), attr(0x40, 5, [0, 1])],
      /LOCAL_PREF length 2/,
    ],
    ['missing LOCAL_PREF (mandatory from an internal peer)', baseAttrs(), /missing LOCAL_PREF/],
    [
      'ORIGINATOR_ID of 3 bytes (§7.9)',
      [...baseAttrs(), LOCAL_PREF, attr(0x80, 9, [1, 2, 3])],
      /ORIGINATOR_ID length 3/,
    ],
    [
      'CLUSTER_LIST of 5 bytes (§7.9)',
      [...baseAttrs(), LOCAL_PREF, attr(0x80, 10, [1, 2, 3, 4, 5])],
      /CLUSTER_LIST length 5/,
    ],
  ])('iBGP: %s', (_w, attrs, reason) => {
    expectWithdraw(withNlri(...attrs), reason, IBGP);
  });

  it('the last attribute running past the section: withdraws, the NLRI still found by the total length (§4)', () => {
    const attrs = cat(...baseAttrs(), 0xc0, 8, 8, 0, 0, 0, 1);
    const body = cat(be16(0), be16(attrs.length), attrs, NLRI);
    const d = decode(body);
    expect(d).toMatchObject({
      ok: true,
      treatAsWithdraw: expect.stringMatching(/COMMUNITIES length 8 runs past/) as unknown,
    });
    expect(d.ok && d.msg.type === 'update' && d.msg.nlri).toEqual(['10.1.0.0/24']);
  });

  it('fewer than 3 bytes left for an attribute header: withdraws (§4)', () => {
    const attrs = cat(...baseAttrs(), 0xc0, 8);
    expectWithdraw(
      cat(be16(0), be16(attrs.length), attrs, NLRI),
      /2 bytes left in the attribute section/,
    );
    const ext = cat(...baseAttrs(), 0xd0, 8, 0);
    expectWithdraw(cat(be16(0), be16(ext.length), ext, NLRI), /3 bytes left/);
  });

  it('withdraws MP_REACH_NLRI prefixes too, and NEXT_HOP is not needed without IPv4 NLRI (§3d)', () => {
    const d = decode(updateBody([], [MP_REACH_V6, attr(0x40, 1, [7]), AS_PATH]));
    expect(d).toMatchObject({
      ok: true,
      treatAsWithdraw: 'ORIGIN value 7',
      msg: { mpReach: { nlri: ['fd00:1::/64'] } },
    });
    expect(decode(updateBody([], [MP_REACH_V6, ORIGIN, AS_PATH]))).toEqual({
      ok: true,
      msg: {
        type: 'update',
        withdrawn: [],
        nlri: [],
        attrs: { origin: 0, asPath: [{ type: 2, asns: [65001] }], unknown: [] },
        mpReach: { family: 'ipv6-unicast', nextHops: ['fd00::1'], nlri: ['fd00:1::/64'] },
      },
    });
  });

  it('the strongest action wins: withdraw over discard, reset over withdraw (§3h)', () => {
    const d = decode(
      updateBody([], [attr(0x40, 6, [1]), attr(0x40, 1, [5]), AS_PATH, NEXT_HOP], NLRI),
    );
    expect(d).toMatchObject({
      ok: true,
      treatAsWithdraw: 'ORIGIN value 5',
      discarded: ['ATOMIC_AGGREGATE length 1'],
    });
    const badMp = attr(0x80, 14, hex('0002 01 04 c0000201 00'));
    expectReset(
      updateBody([], [attr(0x40, 1, [5]), AS_PATH, badMp], NLRI),
      9,
      badMp,
      /IPv6 next hop length 4/,
    );
  });
});

describe('RFC 7606 attribute discard', () => {
  const ok = (...attrs: Uint8Array[]) => updateBody([], [...baseAttrs(), ...attrs], NLRI);
  it.each([
    ['ATOMIC_AGGREGATE of 1 byte (§7.6)', [attr(0x40, 6, [1])], /ATOMIC_AGGREGATE length 1/],
    [
      'AGGREGATOR of 7 bytes on a 4-octet session (§7.7)',
      [attr(0xc0, 7, [0, 0, 1, 0, 1, 2, 3])],
      /AGGREGATOR length 7/,
    ],
    [
      'AGGREGATOR marked well-known (§3c)',
      [attr(0x40, 7, [0, 0, 0, 1, 1, 2, 3, 4])],
      /AGGREGATOR flags 0x40/,
    ],
    [
      'LOCAL_PREF from an external peer, even malformed (§7.5)',
      [attr(0x40, 5, [1])],
      /LOCAL_PREF from an external peer/,
    ],
    [
      'ORIGINATOR_ID from an external peer (§7.9)',
      [attr(0x80, 9, [1, 2, 3, 4])],
      /ORIGINATOR_ID from an external peer/,
    ],
    [
      'CLUSTER_LIST from an external peer (§7.9)',
      [attr(0x80, 10, [1])],
      /CLUSTER_LIST from an external peer/,
    ],
    [
      'AS4_PATH between 4-octet speakers (RFC 6793 §6)',
      [attr(0xc0, 17, hex('02 01 0000fde9'))],
      /AS4_PATH on a 4-octet AS session/,
    ],
    [
      'AS4_AGGREGATOR between 4-octet speakers (RFC 6793 §6)',
      [attr(0xc0, 18, hex('0000fde9 01020304'))],
      /AS4_AGGREGATOR on a 4-octet/,
    ],
  ])('%s', (_w, attrs, reason) => {
    const m = expectDiscard(ok(...attrs), reason);
    expect(m).toMatchObject({ nlri: ['10.1.0.0/24'], attrs: { nextHop: '192.0.2.1' } });
    expect(m.type === 'update' && m.attrs).not.toHaveProperty('localPref');
    expect(m.type === 'update' && m.attrs).not.toHaveProperty('aggregator');
  });

  it('AGGREGATOR of 8 bytes on a 2-octet session (§7.7)', () => {
    const body = updateBody(
      [],
      [ORIGIN, attr(0x40, 2, hex('02 01 fde9')), NEXT_HOP, attr(0xc0, 7, [0, 0, 0, 1, 1, 2, 3, 4])],
      NLRI,
    );
    expectDiscard(body, /AGGREGATOR length 8/, { as4: false, ibgp: false });
  });

  it('a repeated attribute keeps the first (§3g)', () => {
    const m = expectDiscard(ok(attr(0x40, 1, [2])), /ORIGIN repeated \(first kept\)/);
    expect(m).toMatchObject({ attrs: { origin: 0 } });
  });

  it('MP_REACH_NLRI of a family not carried is skipped, the rest kept (RFC 4760)', () => {
    const mp = attr(0x80, 14, hex('0019 46 04 c0000201 00 0102'));
    const m = expectDiscard(
      updateBody([], [mp, ...baseAttrs()], NLRI),
      /MP_REACH_NLRI: AFI 25 SAFI 70 not carried/,
    );
    expect(m).toMatchObject({ nlri: ['10.1.0.0/24'] });
    expect(m).not.toHaveProperty('mpReach');
  });

  it('keeps unrecognized optional attributes as received', () => {
    const d = decode(ok(attr(0xe0, 99, [1, 2, 3]), attr(0x80, 100, [])));
    expect(d).toMatchObject({
      ok: true,
      msg: {
        attrs: {
          unknown: [
            { flags: 0xe0, code: 99, value: hex('010203') },
            { flags: 0x80, code: 100, value: NONE },
          ],
        },
      },
    });
  });
});
