import { describe, expect, it } from 'vitest';
import { MAGLEV_SIZES, maglevSeeds, maglevTable, type MaglevBackend } from './maglev.js';

const seeds = maglevSeeds('test-seed');
const backends = (n: number, weight = 100): MaglevBackend[] =>
  Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `10.1.0.${i + 1}:8080/TCP`, weight }));

function counts(t: Uint32Array): Map<number, number> {
  const c = new Map<number, number>();
  for (const id of t) c.set(id, (c.get(id) ?? 0) + 1);
  return c;
}

describe('maglev', () => {
  it('fills every entry, each backend getting a share within one entry of equal', () => {
    for (const n of [1, 2, 3, 7, 10, 100]) {
      const t = maglevTable(backends(n), 16381, seeds);
      const c = counts(t);
      expect(c.has(0), 'no empty entry').toBe(false);
      expect(c.size).toBe(n);
      const shares = [...c.values()];
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    }
  });

  it('is the same table for the same backends in any order, and differs by seed', () => {
    const a = maglevTable(backends(5), 1021, seeds);
    const b = maglevTable([...backends(5)].reverse(), 1021, seeds);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const c = maglevTable(backends(5), 1021, maglevSeeds('other'));
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
  });

  it('moves about 1/N of the entries when one of N backends goes, and keeps the rest', () => {
    for (const n of [4, 5, 10, 20]) {
      const before = maglevTable(backends(n), 16381, seeds);
      const gone = 2; // the second backend
      const after = maglevTable(
        backends(n).filter((b) => b.id !== gone),
        16381,
        seeds,
      );
      let moved = 0;
      let movedOthers = 0;
      for (let i = 0; i < before.length; i++) {
        if (before[i] === after[i]) continue;
        moved++;
        if (before[i] !== gone) movedOthers++;
      }
      // Every entry of the removed backend moves; Maglev moves few of the others (paper: a few %).
      expect(moved / before.length).toBeGreaterThanOrEqual(1 / n - 0.001);
      expect(moved / before.length).toBeLessThan(1 / n + 0.04);
      expect(movedOthers / before.length).toBeLessThan(0.04);
    }
  });

  it('gives backends shares proportional to their weights; weight 0 none', () => {
    const t = maglevTable(
      [
        { id: 1, name: 'a', weight: 100 },
        { id: 2, name: 'b', weight: 50 },
        { id: 3, name: 'c', weight: 0 },
      ],
      16381,
      seeds,
    );
    const c = counts(t);
    expect(c.get(3)).toBeUndefined();
    const ratio = (c.get(1) ?? 0) / (c.get(2) ?? 1);
    expect(ratio).toBeGreaterThan(1.9);
    expect(ratio).toBeLessThan(2.1);
  });

  it('is empty without a backend of weight > 0, and works at every allowed size', () => {
    expect(counts(maglevTable([], 251, seeds))).toEqual(new Map([[0, 251]]));
    for (const m of MAGLEV_SIZES.slice(0, 6)) {
      expect(counts(maglevTable(backends(3), m, seeds)).size).toBe(3);
    }
  });
});
