import { describe, expect, it } from 'vitest';
import { DYNAMIC_MAPS, dynamicMapSize } from './mapsize.js';

const GB = 2 ** 30;

describe('dynamicMapSize', () => {
  it('scales the defaults to the ratio of memory, within the floors and the ceiling', () => {
    const tcp = DYNAMIC_MAPS.ctTcp;
    // A small node gets the floor; a big one more; a huge one the ceiling.
    expect(dynamicMapSize(tcp, tcp.defaultEntries, 0.0025, 8 * GB)).toBe(tcp.minEntries);
    const big = dynamicMapSize(tcp, tcp.defaultEntries, 0.0025, 256 * GB);
    expect(big).toBeGreaterThan(tcp.defaultEntries);
    expect(dynamicMapSize(tcp, tcp.defaultEntries, 1, 2 ** 50)).toBe(1 << 24);
    // Twice the memory, twice the entries (above the floor).
    expect(dynamicMapSize(tcp, tcp.defaultEntries, 0.0025, 512 * GB)).toBeCloseTo(2 * big, -1);
  });

  it('leaves a size set by its own flag, and every size with ratio 0', () => {
    const any = DYNAMIC_MAPS.ctAny;
    expect(dynamicMapSize(any, 1000, 0.0025, 64 * GB)).toBe(1000);
    expect(dynamicMapSize(any, any.defaultEntries, 0, 64 * GB)).toBe(any.defaultEntries);
  });
});
