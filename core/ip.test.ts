// isIPv6Address against node:net's isIPv6 (which it replaces at start-up) over valid
// addresses and systematic mutations of them; and parseIp on both families.
import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { formatIp, isIPv6Address, parseIp, parseQuad, readIpBytes, writeIpBytes } from './ip.js';

const VALID = [
  '::',
  '::1',
  '1::',
  'fd00::1',
  'fe80::a:b:c:d',
  '2001:db8:0:0:0:0:2:1',
  '2001:DB8::2:1',
  '1:2:3:4:5:6:7:8',
  '1::2:3:4:5:6:7',
  '1:2:3:4:5:6:7::',
  '::ffff:10.0.0.1',
  '::10.0.0.1',
  '64:ff9b::192.0.2.33',
  '1:2:3:4:5:6:1.2.3.4',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
];

/** Every one-character deletion, duplication and replacement (from a small alphabet). */
function mutations(s: string): string[] {
  const out: string[] = [];
  const alphabet = [':', '.', '0', 'f', 'g', ' ', '1', '::'];
  for (let i = 0; i <= s.length; i++) {
    out.push(s.slice(0, i) + s.slice(i + 1));
    for (const c of alphabet)
      out.push(s.slice(0, i) + c + s.slice(i + 1), s.slice(0, i) + c + s.slice(i));
  }
  return out;
}

describe('isIPv6Address', () => {
  it("agrees with node:net's isIPv6 on addresses and their mutations (zones aside)", () => {
    const inputs = [
      ...VALID,
      ...VALID.flatMap(mutations),
      '',
      ':',
      ':::',
      '1.2.3.4',
      '1.2.3.4::',
      '::1.2.3.4:1',
      '1:2:3:4:5:6:7:8:9',
      '1::2::3',
      '00000::1',
      '::01.2.3.4',
      '::256.1.1.1',
    ].filter((s) => !s.includes('%'));
    let checked = 0;
    for (const s of new Set(inputs)) {
      expect([s, isIPv6Address(s)]).toEqual([s, isIPv6(s)]);
      checked++;
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('refuses zones, which name a link, not an address', () => {
    expect(isIPv6Address('fe80::1%eth0')).toBe(false);
    expect(parseIp('fe80::1%eth0')).toBeUndefined();
  });
});

describe('parseIp', () => {
  it('reads both families, IPv4-in-IPv6 included, and formats them back', () => {
    expect(parseIp('10.0.0.1')).toEqual({ family: 'ipv4', value: 0x0a000001n });
    expect(parseIp('::ffff:10.0.0.1')).toEqual({ family: 'ipv6', value: 0xffff0a000001n });
    const v6 = parseIp('2001:db8::2:1');
    expect(v6 && formatIp(v6.family, v6.value)).toBe('2001:db8::2:1');
    expect(parseIp('not an ip')).toBeUndefined();
  });
});

describe('writeIpBytes', () => {
  it('writes dotted quads by hand exactly as the general parser does, and refuses the rest', () => {
    const general = (ip: string): string => {
      const p = parseIp(ip);
      if (!p) return 'invalid';
      return p.value.toString(16).padStart(8, '0');
    };
    for (const ip of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.100.7', '1.2.3.4']) {
      const b = Buffer.alloc(4);
      writeIpBytes(ip, b, 0, 4);
      expect(b.toString('hex')).toBe(general(ip));
      expect(readIpBytes('ipv4', b, 0)).toBe(ip);
    }
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', 'a.b.c.d', '']) {
      expect(() => writeIpBytes(bad, Buffer.alloc(4), 0, 4)).toThrow(/is not an IPv4 address/);
    }
    const b16 = Buffer.alloc(16, 0xff);
    writeIpBytes('10.0.0.1', b16, 0, 16);
    expect(b16.toString('hex')).toBe(`0a000001${'0'.repeat(24)}`);
  });
});

describe('formatIp and parseQuad', () => {
  it("prints IPv6 as the WHATWG URL serializer does (RFC 5952's compression), every zero-run shape", () => {
    // Every pattern of zero and non-zero words: where the longest run is, ties, single zeros.
    for (let mask = 0; mask < 256; mask++) {
      let v = 0n;
      for (let i = 0; i < 8; i++) v = (v << 16n) | BigInt(mask & (1 << i) ? 0xab0 + i : 0);
      const text = formatIp('ipv6', v);
      expect(text, mask.toString(2)).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
      expect(parseIp(text)?.value).toBe(v);
    }
  });

  it('reads a dotted quad in a range of a longer text, as node:net would the slice', () => {
    const texts = ['10.0.0.1', '255.255.255.255', '0.0.0.0', '1.2.3', '01.2.3.4', '1.2.3.256'];
    for (const t of texts) {
      const framed = `x${t}/24`;
      const v = parseQuad(framed, 1, 1 + t.length);
      expect(v === undefined ? undefined : formatIp('ipv4', BigInt(v)), t).toBe(
        isIPv4(t) ? t : undefined,
      );
    }
  });
});
