// One suite, two backends: the in-memory maps must behave as the kernel's do.
import { afterAll, describe, expect, it } from 'vitest';
import { kernelTests, testPinDir } from '../testing/kernel.js';
import { struct } from './codec.js';
import { BpfError, E } from './errors.js';
import { BPF_F_NO_PREALLOC, mapSpec, MapType, perCpuMapSpec } from './map.js';
import { unpin } from './map.kernel.js';
import { unpinMemoryMaps } from './map.memory.js';
import { openMap, type Backend } from './open.js';

interface U32 {
  readonly k: number;
}
interface Val {
  readonly a: number;
  readonly b: bigint;
}
interface Lpm {
  readonly prefixlen: number;
  readonly ip: string;
}

const u32 = struct<U32>('u32_key', [['k', 'u32']]);
const val = struct<Val>('val', [
  ['a', 'u32'],
  ['b', 'u64'],
]);
const lpmKey = struct<Lpm>('lpm_key', [
  ['prefixlen', 'u32'],
  ['ip', 'ipv4'],
]);

const kernel = kernelTests();
const pins = kernel.ok
  ? testPinDir()
  : { dir: '/tmp/cellium-memory-pins', cleanup: () => unpinMemoryMaps('/tmp/cellium-memory-pins') };
afterAll(() => pins.cleanup());

let seq = 0;
function backends(): [string, Backend][] {
  return [
    ['memory', 'memory'],
    [kernel.ok ? 'kernel' : `kernel (skipped: ${kernel.reason})`, 'kernel'],
  ];
}

describe.each(backends())('%s backend', (_, backend) => {
  const skip = backend === 'kernel' && !kernel.ok;
  const open = <K, V>(spec: Parameters<typeof openMap<K, V>>[0], pinned = false) =>
    openMap(spec, { backend, ...(pinned ? { pinDir: pins.dir } : {}) });
  const name = () => `cellium_t${seq++}`;

  it.skipIf(skip)('hash: update, lookup, delete, flags, full', () => {
    const m = open(
      mapSpec({ name: name(), type: MapType.Hash, key: u32, value: val, maxEntries: 4 }),
    );
    m.update({ k: 1 }, { a: 10, b: 100n });
    expect(m.lookup({ k: 1 })).toEqual({ a: 10, b: 100n });
    expect(m.lookup({ k: 2 })).toBeUndefined();
    expect(() => m.update({ k: 1 }, { a: 0, b: 0n }, 'noexist')).toThrow(
      /entry already exists \(EEXIST\)/,
    );
    expect(() => m.update({ k: 2 }, { a: 0, b: 0n }, 'exist')).toThrow(BpfError);
    m.update({ k: 1 }, { a: 11, b: 0n }, 'exist');
    expect(m.lookup({ k: 1 })?.a).toBe(11);
    for (const k of [2, 3, 4]) m.update({ k }, { a: k, b: 0n });
    const full = (() => {
      try {
        m.update({ k: 5 }, { a: 5, b: 0n });
      } catch (e) {
        return e;
      }
    })();
    expect(full).toBeInstanceOf(BpfError);
    expect((full as BpfError).errno).toBe(E.E2BIG);
    expect((full as BpfError).message).toContain(`is full (max entries 4)`);
    expect(m.delete({ k: 3 })).toBe(true);
    expect(m.delete({ k: 3 })).toBe(false);
    expect([...m.keys()].map((x) => x.k).sort()).toEqual([1, 2, 4]);
    expect(m.count()).toBe(3);
    m.close();
  });

  it.skipIf(skip)('hash: batch update and delete', () => {
    const m = open(
      mapSpec({ name: name(), type: MapType.Hash, key: u32, value: val, maxEntries: 10_000 }),
    );
    const entries = Array.from(
      { length: 5000 },
      (_, i) => [{ k: i }, { a: i * 2, b: BigInt(i) }] as const,
    );
    m.updateBatch(entries, 'any', 1024);
    expect(m.count()).toBe(5000);
    expect(m.lookup({ k: 4321 })).toEqual({ a: 8642, b: 4321n });
    expect(m.deleteBatch([{ k: 1 }, { k: 2 }, { k: 99_999 }])).toBe(2);
    const all = new Map([...m.entries()].map(([k, v]) => [k.k, v.a]));
    expect(all.size).toBe(4998); // every entry, read in batches of 1024 from the kernel
    expect(all.get(3)).toBe(6);
    expect(all.has(1)).toBe(false);
    m.close();
  });

  it.skipIf(skip)('lru hash: evicts instead of failing when full', () => {
    const m = open(
      mapSpec({ name: name(), type: MapType.LruHash, key: u32, value: val, maxEntries: 64 }),
    );
    for (let k = 0; k < 500; k++) m.update({ k }, { a: k, b: 0n });
    expect(m.count()).toBeLessThanOrEqual(64);
    expect(m.lookup({ k: 499 })?.a).toBe(499);
    m.close();
  });

  it.skipIf(skip)('lpm trie: longest prefix wins', () => {
    const m = open(
      mapSpec({
        name: name(),
        type: MapType.LpmTrie,
        key: lpmKey,
        value: val,
        maxEntries: 16,
        flags: BPF_F_NO_PREALLOC,
      }),
    );
    m.update({ prefixlen: 8, ip: '10.0.0.0' }, { a: 8, b: 0n });
    m.update({ prefixlen: 16, ip: '10.1.0.0' }, { a: 16, b: 0n });
    m.update({ prefixlen: 32, ip: '10.1.2.3' }, { a: 32, b: 0n });
    expect(m.lookup({ prefixlen: 32, ip: '10.1.2.3' })?.a).toBe(32);
    expect(m.lookup({ prefixlen: 32, ip: '10.1.9.9' })?.a).toBe(16);
    expect(m.lookup({ prefixlen: 32, ip: '10.200.0.1' })?.a).toBe(8);
    expect(m.lookup({ prefixlen: 32, ip: '11.0.0.1' })).toBeUndefined();
    expect(m.delete({ prefixlen: 16, ip: '10.1.0.0' })).toBe(true);
    expect(m.lookup({ prefixlen: 32, ip: '10.1.9.9' })?.a).toBe(8);
    expect(() => m.update({ prefixlen: 33, ip: '10.0.0.0' }, { a: 0, b: 0n })).toThrow(/EINVAL/);
    expect(m.count()).toBe(2);
    m.close();
  });

  it.skipIf(skip)('array: every slot exists, cannot be deleted, bounded', () => {
    const m = open(
      mapSpec({ name: name(), type: MapType.Array, key: u32, value: val, maxEntries: 8 }),
    );
    expect(m.lookup({ k: 3 })).toEqual({ a: 0, b: 0n });
    expect(m.lookup({ k: 8 })).toBeUndefined();
    m.update({ k: 3 }, { a: 3, b: 3n });
    expect(m.lookup({ k: 3 })).toEqual({ a: 3, b: 3n });
    expect(() => m.update({ k: 3 }, { a: 0, b: 0n }, 'noexist')).toThrow(/EEXIST/);
    expect(() => m.update({ k: 8 }, { a: 0, b: 0n })).toThrow(/E2BIG/);
    expect(() => m.delete({ k: 3 })).toThrow(/EINVAL/);
    expect(m.count()).toBe(8);
    m.close();
  });

  it.skipIf(skip)('per-CPU hash: one value per possible CPU', () => {
    const m = open(
      perCpuMapSpec({
        name: name(),
        type: MapType.PerCpuHash,
        key: u32,
        value: val,
        maxEntries: 8,
      }),
    );
    const n = m.raw.ncpus;
    expect(n).toBeGreaterThan(0);
    m.update(
      { k: 1 },
      Array.from({ length: n }, (_, i) => ({ a: i + 1, b: BigInt(i) })),
    );
    const got = m.lookup({ k: 1 });
    expect(got).toHaveLength(n);
    expect(got?.map((v) => v.a)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    m.close();
  });

  it.skipIf(skip)(
    'pinned: contents outlive close; a changed shape is migrated or recreated',
    () => {
      const nm = name();
      const args = { name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 16 };
      const spec = mapSpec(args);
      const a = open(spec, true);
      a.update({ k: 7 }, { a: 70, b: 7n });
      a.close();
      const b = open(spec, true);
      expect(b.lookup({ k: 7 })).toEqual({ a: 70, b: 7n });
      b.close();
      if (backend === 'kernel') {
        // Unpinned, the next open starts empty.
        unpin(b.raw.pinPath ?? '');
        const fresh = open(spec, true);
        expect(fresh.count()).toBe(0);
        fresh.update({ k: 7 }, { a: 70, b: 7n });
        fresh.close();
      }
      if (backend === 'kernel') {
        const log: string[] = [];
        const bigger = openMap(mapSpec({ ...args, maxEntries: 32 }), {
          backend,
          pinDir: pins.dir,
          log: (msg, outcome) => log.push(`${outcome}: ${msg}`),
        });
        expect(bigger.lookup({ k: 7 })).toEqual({ a: 70, b: 7n });
        expect(log[0]).toMatch(
          /^migrated: map cellium_t\d+ changed shape .*carried over 1 entries/,
        );
        bigger.close();
        const otherValue = struct<{ x: number }>('v2', [['x', 'u32']]);
        const changed = openMap(
          mapSpec({ name: nm, type: MapType.Hash, key: u32, value: otherValue, maxEntries: 32 }),
          {
            backend,
            pinDir: pins.dir,
            log: (msg, outcome) => log.push(`${outcome}: ${msg}`),
          },
        );
        expect(changed.count()).toBe(0);
        expect(log[1]).toMatch(/^recreated: .*could not be carried over/);
        changed.close();
      }
    },
  );
});
