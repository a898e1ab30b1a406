import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIp } from '../../../core/ip.js';
import { Rng } from '../../../core/testing/rng.js';
import { canonicalPrefix, formatIpv6, parsePrefix } from './addr.js';
import { prefixFamily } from './family.js';
import { writeNlri } from './nlri-writer.js';
import { encodePrefix } from './nlri.js';

const TEXTS = [
  '::',
  '::1',
  '1::',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  'fd00:0:0:1::',
  'FD00::ABCD',
  '::ffff:1.2.3.4',
  '64:ff9b::192.0.2.33',
  '0:0:0:0:0:0:0:0',
  '2001:db8:0:0:1:0:0:1',
  ':::',
  '1:2:3:4:5:6:7:8:9',
  '1::2::3',
  '12345::',
  'g::',
  ':1::',
  '1:',
  ':1',
  '1::2:',
  '1:2:3:4:5:6:7',
  '::1.2.3',
  '::1.2.3.256',
  '1.2.3.4',
  '1:2:3:4:5:6:7:8::',
  '',
  ':',
  'fd00::01.2.3.4',
  '::0a:b',
];

describe('addresses and prefixes', () => {
  it.each(TEXTS)('reads %j as node:net and core/ip do, printing RFC 5952 text', (text) => {
    const core = parseIp(text);
    const expected = isIPv6(text) && core ? `${formatIp('ipv6', core.value)}/128` : undefined;
    const p = parsePrefix(`${text}/128`);
    expect(p && `${formatIpv6(p.addr)}/128`).toEqual(expected);
    const out = new Uint8Array(17);
    const n = writeNlri(`${text}/128`, true, out, 0);
    expect(n < 0 ? undefined : `${formatIpv6(out.subarray(1))}/128`).toEqual(expected);
  });

  it('agrees with core/ip on 20,000 random IPv6 prefixes and the fast and general encoders agree', () => {
    const rng = new Rng(Number(process.env.BGP_ADDR_SEED ?? 7));
    const out = new Uint8Array(17);
    for (let i = 0; i < 20_000; i++) {
      let v = 0n;
      for (let k = 0; k < 8; k++) v = (v << 16n) | BigInt(rng.chance(0.5) ? 0 : rng.int(0, 0xffff));
      const len = rng.int(0, 128);
      const text = `${formatIp('ipv6', v)}/${len}`;
      const masked = v & (((1n << BigInt(len)) - 1n) << BigInt(128 - len));
      expect(canonicalPrefix(text)).toBe(`${formatIp('ipv6', masked)}/${len}`);
      const n = writeNlri(text, true, out, 0);
      expect(out.subarray(0, n)).toEqual(encodePrefix(text, 'ipv6-unicast'));
    }
  });

  it('reads IPv4 prefixes strictly and masks host bits', () => {
    expect(canonicalPrefix('10.1.2.3/16')).toBe('10.1.0.0/16');
    expect(canonicalPrefix('10.1.2.3/0')).toBe('0.0.0.0/0');
    expect(canonicalPrefix('10.1.2.255/31')).toBe('10.1.2.254/31');
    for (const bad of [
      '10.1.2/8',
      '10.01.2.3/8',
      '256.1.1.1/8',
      '10.1.2.3/33',
      '10.1.2.3/',
      '10.1.2.3/08',
      '10.1.2.3',
    ]) {
      expect(parsePrefix(bad), bad).toBeUndefined();
      expect(writeNlri(bad, false, new Uint8Array(5), 0), bad).toBe(-1);
      expect(
        isIPv4(bad.split('/')[0]!) && /^\/(\d|[12]\d|3[0-2])$/.test(bad.slice(bad.indexOf('/'))),
      ).toBe(false);
    }
    expect(() => canonicalPrefix('10.1.2.3/33')).toThrow(/'10.1.2.3\/33' is not an IP prefix/);
  });

  it("tells a prefix's family from its text", () => {
    expect(['10.0.0.0/8', '10.0.0.1', '::ffff:1.2.3.4/128', 'fd00::/64'].map(prefixFamily)).toEqual(
      ['ipv4-unicast', 'ipv4-unicast', 'ipv6-unicast', 'ipv6-unicast'],
    );
  });
});
