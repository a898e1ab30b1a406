// 4-octet AS numbers (RFC 6793): 4-octet AS_PATH between new speakers; AS_TRANS with
// AS4_PATH / AS4_AGGREGATOR towards and from old ones.
import { describe, expect, it } from 'vitest';
import { encodeAttrs } from './attrs-encode.js';
import { mergeAs4Path } from './as-path.js';
import { decodeMessage } from './decode.js';
import { attr, cat, hex, updateBody } from './fixtures.js';
import type { AsSegment, PathAttrs, WireContext } from './types.js';

const OLD: WireContext = { as4: false, ibgp: false };
const NEW: WireContext = { as4: true, ibgp: false };
const ORIGIN = attr(0x40, 1, [0]);
const NEXT_HOP = attr(0x40, 3, [192, 0, 2, 1]);
const NLRI = [0x18, 10, 1, 0];

const seq = (...asns: number[]): AsSegment => ({ type: 2, asns });
const set = (...asns: number[]): AsSegment => ({ type: 1, asns });

function decodeOld(...attrs: Uint8Array[]) {
  const d = decodeMessage(2, updateBody([], [ORIGIN, NEXT_HOP, ...attrs], NLRI), OLD);
  if (!d.ok || d.msg.type !== 'update') throw new Error(`not decoded: ${JSON.stringify(d)}`);
  return { attrs: d.msg.attrs, discarded: d.discarded, withdraw: d.treatAsWithdraw };
}

describe('2-octet session: decoding AS_PATH with AS4_PATH (RFC 6793 §4.2.3)', () => {
  it('puts the 4-octet ASNs of AS4_PATH in place of AS_TRANS', () => {
    const d = decodeOld(
      attr(0x40, 2, hex('02 03 fde9 5ba0 5ba0')),
      attr(0xc0, 17, hex('02 02 fa56ea00 fa56ea01')),
    );
    expect(d).toEqual({
      attrs: expect.objectContaining({ asPath: [seq(65001, 4200000000, 4200000001)] }) as unknown,
      discarded: undefined,
      withdraw: undefined,
    });
  });

  it('uses AS_PATH alone when AS4_PATH is the longer', () => {
    const d = decodeOld(
      attr(0x40, 2, hex('02 01 5ba0')),
      attr(0xc0, 17, hex('02 02 fa56ea00 fa56ea01')),
    );
    expect(d.attrs?.asPath).toEqual([seq(23456)]);
  });

  it('takes AS_TRANS + AS4_AGGREGATOR as the aggregator', () => {
    const d = decodeOld(
      attr(0x40, 2, hex('02 01 5ba0')),
      attr(0xc0, 7, hex('5ba0 c0000209')),
      attr(0xc0, 18, hex('fa56ea00 c0000209')),
    );
    expect(d.attrs?.aggregator).toEqual({ asn: 4200000000, address: '192.0.2.9' });
  });

  it('ignores AS4_PATH and AS4_AGGREGATOR when AGGREGATOR is not AS_TRANS (an old speaker aggregated later)', () => {
    const d = decodeOld(
      attr(0x40, 2, hex('02 02 fde9 5ba0')),
      attr(0xc0, 7, hex('fdea c0000209')),
      attr(0xc0, 17, hex('02 01 fa56ea00')),
      attr(0xc0, 18, hex('fa56ea00 c0000209')),
    );
    expect(d.attrs).toMatchObject({ asPath: [seq(65001, 23456)], aggregator: { asn: 65002 } });
    expect(d.discarded).toEqual(['AS4_PATH/AS4_AGGREGATOR ignored: AGGREGATOR is not AS_TRANS']);
  });

  it.each([
    ['shorter than 6 bytes', '02 00', /AS4_PATH length 2/],
    [
      'with a segment of length 0',
      '02 00 02 01 fa56ea00',
      /AS4_PATH malformed: segment of length 0/,
    ],
    ['with an unknown segment type', '07 01 fa56ea00', /AS4_PATH malformed: segment type 7/],
  ])('discards an AS4_PATH %s (RFC 6793 §6) and keeps AS_PATH', (_w, value, reason) => {
    const d = decodeOld(attr(0x40, 2, hex('02 01 5ba0')), attr(0xc0, 17, hex(value)));
    expect(d.attrs?.asPath).toEqual([seq(23456)]);
    expect(d.discarded?.join()).toMatch(reason);
    expect(d.withdraw).toBeUndefined();
  });

  it('drops confederation segments of AS4_PATH and uses the rest (RFC 6793 §6)', () => {
    const d = decodeOld(
      attr(0x40, 2, hex('02 02 fde9 5ba0')),
      attr(0xc0, 17, hex('03 01 0000fdf0 02 01 fa56ea00')),
    );
    expect(d.attrs?.asPath).toEqual([seq(65001, 4200000000)]);
    expect(d.discarded).toEqual(['AS4_PATH confederation segments']);
  });

  it('a malformed 2-octet AS_PATH withdraws (RFC 7606 §7.2)', () => {
    expect(decodeOld(attr(0x40, 2, hex('02 02 fde9'))).withdraw).toMatch(/AS_PATH malformed/);
  });
});

describe('mergeAs4Path', () => {
  it('counts a set as one AS and keeps leading confederation segments', () => {
    const asPath: AsSegment[] = [{ type: 3, asns: [64512] }, seq(65001, 23456), set(1, 2)];
    expect(mergeAs4Path(asPath, [seq(4200000000), set(1, 2)])).toEqual([
      { type: 3, asns: [64512] },
      seq(65001, 4200000000),
      set(1, 2),
    ]);
    expect(mergeAs4Path([set(1, 2), seq(23456)], [seq(4200000000)])).toEqual([
      set(1, 2),
      seq(4200000000),
    ]);
    expect(mergeAs4Path([seq(23456, 23456)], [seq(4200000000, 4200000001)])).toEqual([
      seq(4200000000, 4200000001),
    ]);
  });
});

describe('encoding ASNs', () => {
  const attrs: PathAttrs = {
    origin: 0,
    asPath: [seq(65001, 4200000000), set(65002, 4200000001)],
    aggregator: { asn: 4200000000, address: '192.0.2.9' },
    unknown: [],
  };

  it('to an old speaker: AS_TRANS in AS_PATH and AGGREGATOR, the real ASNs in AS4_PATH and AS4_AGGREGATOR', () => {
    expect(encodeAttrs(attrs, OLD)).toEqual([
      hex('40 01 01 00'),
      hex('40 02 0c 02 02 fde9 5ba0 01 02 fdea 5ba0'),
      hex('c0 07 06 5ba0 c0000209'),
      hex('c0 11 14 02 02 0000fde9 fa56ea00 01 02 0000fdea fa56ea01'),
      hex('c0 12 08 fa56ea00 c0000209'),
    ]);
  });

  it('to an old speaker with only 2-octet ASNs: no AS4_PATH or AS4_AGGREGATOR', () => {
    const small = {
      ...attrs,
      asPath: [seq(65001)],
      aggregator: { asn: 65001, address: '192.0.2.9' },
    };
    expect(encodeAttrs(small, OLD).map((a) => a[1])).toEqual([1, 2, 7]);
  });

  it('to a new speaker: 4-octet AS_PATH and AGGREGATOR only', () => {
    expect(encodeAttrs(attrs, NEW)).toEqual([
      hex('40 01 01 00'),
      hex('40 02 14 02 02 0000fde9 fa56ea00 01 02 0000fdea fa56ea01'),
      hex('c0 07 08 fa56ea00 c0000209'),
    ]);
  });

  it('splits a sequence of more than 255 ASNs into segments (with the extended length)', () => {
    const long: PathAttrs = {
      origin: 0,
      asPath: [seq(...Array.from({ length: 300 }, (_, i) => 64512 + i))],
      unknown: [],
    };
    const asPath = encodeAttrs(long, NEW)[1]!;
    expect([...asPath.subarray(0, 5)]).toEqual([0x50, 2, ...[0x04, 0xb4], 2]);
    expect(asPath[5]).toBe(255);
    const d = decodeMessage(2, updateBody([], [ORIGIN, asPath, NEXT_HOP], NLRI), NEW);
    expect(
      d.ok && d.msg.type === 'update' && d.msg.attrs?.asPath.map((s) => s.asns.length),
    ).toEqual([255, 45]);
  });

  it('round-trips through an old session to the same 4-octet path', () => {
    const bytes = cat(...encodeAttrs({ ...attrs, nextHop: '192.0.2.1' }, OLD));
    const d = decodeMessage(2, cat(0, 0, bytes.length >> 8, bytes.length & 255, bytes, NLRI), OLD);
    expect(d).toMatchObject({
      ok: true,
      msg: { attrs: { asPath: attrs.asPath, aggregator: attrs.aggregator } },
    });
  });
});
