import { describe, expect, it } from 'vitest';
import { canonicalAddress, checkConfig, neighborChanged } from './config-check.js';
import { neighbor } from './fixtures.js';
import type { NeighborConfig, SpeakerConfig } from './types.js';

const n = neighbor({
  address: '10.0.0.1',
  port: 179,
  connectRetrySec: 120,
  holdTimeSec: 90,
  keepaliveSec: 30,
  gracefulRestart: { enabled: false, restartTimeSec: 120 },
  families: ['ipv4-unicast'],
});
const cfg = (neighbors: NeighborConfig[], more: Partial<SpeakerConfig> = {}): SpeakerConfig => ({
  routerId: '10.0.0.2',
  listenPort: 179,
  neighbors,
  ...more,
});

describe('checkConfig', () => {
  it('accepts a valid configuration', () => {
    expect(() => checkConfig(cfg([n, { ...n, address: 'fd00::1' }]))).not.toThrow();
    expect(() => checkConfig(cfg([{ ...n, holdTimeSec: 0, keepaliveSec: 0 }]))).not.toThrow();
  });

  it.each([
    [cfg([], { routerId: '0.0.0.0' }), /routerId/],
    [cfg([], { listenPort: 70000 }), /listenPort 70000/],
    [cfg([{ ...n, address: 'nope' }]), /neighbor nope: address is not an IP/],
    [cfg([n, { ...n, address: '10.0.0.1' }]), /configured twice/],
    [
      cfg([
        { ...n, address: 'fd00::1' },
        { ...n, address: 'fd00:0::1' },
      ]),
      /configured twice/,
    ],
    [cfg([{ ...n, holdTimeSec: 2 }]), /holdTimeSec 2/],
    [cfg([{ ...n, keepaliveSec: 0 }]), /keepaliveSec 0 must be 1..holdTimeSec \(90\)/],
    [cfg([{ ...n, holdTimeSec: 9, keepaliveSec: 10 }]), /keepaliveSec 10 must be/],
    [cfg([{ ...n, peerAsn: 0 }]), /peerAsn 0/],
    [cfg([{ ...n, families: [] }]), /no families/],
    [cfg([{ ...n, passive: true }], { listenPort: 0 }), /passive needs a listenPort/],
    [cfg([{ ...n, localAddress: 'x' }]), /localAddress 'x'/],
  ])('names what is wrong (%#)', (c, re) => {
    expect(() => checkConfig(c)).toThrow(re);
  });
});

describe('neighborChanged', () => {
  it('sees any field change and ignores the address spelling', () => {
    expect(neighborChanged(n, { ...n })).toBe(false);
    expect(neighborChanged({ ...n, address: 'fd00::1' }, { ...n, address: 'fd00:0::1' })).toBe(
      false,
    );
    expect(neighborChanged(n, { ...n, holdTimeSec: 30 })).toBe(true);
    expect(
      neighborChanged(n, { ...n, gracefulRestart: { enabled: true, restartTimeSec: 120 } }),
    ).toBe(true);
    expect(neighborChanged(n, { ...n, families: ['ipv6-unicast'] })).toBe(true);
    expect(neighborChanged(n, { ...n, localAddress: '10.0.0.2' })).toBe(true);
  });

  it('canonicalAddress shortens IPv6', () => {
    expect(canonicalAddress('FD00:0:0::1')).toBe('fd00::1');
  });
});
