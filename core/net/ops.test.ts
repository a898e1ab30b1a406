import { describe, expect, it } from 'vitest';
import { parsePrefix } from './ops.js';

describe('parsePrefix', () => {
  it('reads prefixes, bare IPs (host prefixes) and default', () => {
    expect(parsePrefix('10.1.2.3/24')).toMatchObject({ family: 'ipv4', bits: 24 });
    expect(parsePrefix('10.1.2.3').bytes).toEqual(Buffer.from([10, 1, 2, 3]));
    expect(parsePrefix('fd00::5')).toMatchObject({ family: 'ipv6', bits: 128 });
    expect(parsePrefix('fd00::5').bytes.toString('hex')).toBe('fd000000000000000000000000000005');
    expect(parsePrefix('default', 'ipv6')).toMatchObject({ bits: 0, ip: '::' });
  });

  it('refuses what is not one', () => {
    for (const bad of [
      '10.1.2.3/33',
      '10.1.2.3/',
      '10.1.2.3/2/3',
      'fd00::/129',
      'x',
      '10.1.2.3/-1',
    ])
      expect(() => parsePrefix(bad), bad).toThrow(/not an IP prefix/);
    expect(() => parsePrefix('default')).toThrow(/needs a family/);
  });
});
