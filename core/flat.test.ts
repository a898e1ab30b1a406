import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { flat } from './flat.js';

it('returns the same string, empty included', () => {
  const parts = ['10.1.0.1', ':', 8080, '/', 'TCP'];
  expect(flat(`${parts[0]}${parts[1]}${parts[2]}${parts[3]}${parts[4]}`)).toBe('10.1.0.1:8080/TCP');
  expect(flat('')).toBe('');
});

it('lets the parts of a concatenated string go (what keys kept by the 100k cost)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = (): number => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const n = 50_000;
  const [port, proto, scope] = [8080, 'TCP', ''] as const;
  const keys = Array.from(
    { length: n },
    (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${port}/${proto}${scope}`,
  );
  const before = used();
  for (let i = 0; i < n; i++) keys[i] = flat(keys[i] ?? '');
  const after = used();
  // Each key was a tree of ~7 nodes of 20-32 bytes; flat, one string and the tree's root.
  expect((before - after) / n).toBeGreaterThan(40);
});
