import { describe, expect, it } from 'vitest';
import { IpamError, IpPool } from './pool.js';

describe('IpPool', () => {
  it('never hands out the network, broadcast or router address', () => {
    const p = new IpPool('10.0.0.0/29'); // 8 addresses: .0 network, .1 router, .7 broadcast
    expect(p.router).toBe('10.0.0.1');
    expect(p.capacity).toBe(5);
    const got = Array.from({ length: 5 }, (_, i) => p.allocateNext(`pod-${i}`).ip);
    expect(got).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('names the pool and its size when exhausted', () => {
    const p = new IpPool('10.0.0.0/30');
    p.allocateNext('a');
    expect(() => p.allocateNext('b')).toThrow(
      'IPv4 pool 10.0.0.0/30 is exhausted: all 1 addresses are in use',
    );
  });

  it('reuses released addresses only after moving on (next-fit)', () => {
    const p = new IpPool('10.0.0.0/28');
    const a = p.allocateNext('a').ip;
    p.allocateNext('b');
    expect(p.release(a)).toBe(true);
    expect(p.release(a)).toBe(false);
    expect(p.allocateNext('c').ip).toBe('10.0.0.4');
  });

  it('allocates a given address, refusing ones in use, reserved or outside the range', () => {
    const p = new IpPool('10.0.0.0/24');
    expect(p.allocate('10.0.0.50', 'ns/web').ip).toBe('10.0.0.50');
    expect(() => p.allocate('10.0.0.50', 'ns/db')).toThrow(
      '10.0.0.50 is already allocated to ns/web',
    );
    expect(() => p.allocate('10.0.0.1', 'x')).toThrow(
      '10.0.0.1 is the router (gateway) address of 10.0.0.0/24',
    );
    expect(() => p.allocate('10.0.1.1', 'x')).toThrow(IpamError);
    expect(() => p.allocate('fd00::1', 'x')).toThrow('fd00::1 is not in the pool 10.0.0.0/24');
  });

  it('works for IPv6 ranges', () => {
    const p = new IpPool('fd00:10:200::/120');
    expect(p.router).toBe('fd00:10:200::1');
    expect(p.capacity).toBe(254);
    expect(p.allocateNext('a').ip).toBe('fd00:10:200::2');
    expect(p.contains('fd00:10:200::ff')).toBe(true);
    expect(p.contains('fd00:10:201::1')).toBe(false);
  });

  it('refuses CIDRs too small or too large', () => {
    expect(() => new IpPool('10.0.0.0/31')).toThrow('10.0.0.0/31 is too small for a pod CIDR');
    expect(() => new IpPool('fd00::/64')).toThrow(/at most 4194304 are supported/);
  });
});
