// One suite, two backends: the in-memory maps must behave as the kernel's do.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { failOnMissing, kernelPrereqs, testPinDir } from '../testing/kernel.js';
import { struct } from './codec.js';
import { BpfError, E } from './errors.js';
import {
  BPF_F_NO_PREALLOC,
  BpfMap,
  mapSpec,
  MapType,
  perCpuMapSpec,
  type MapShape,
  type RawMap,
} from './map.js';
import { FaultyMap } from './map.faulty.js';
import { createInnerMap, getInnerMap, setInnerMap } from './map-of-maps.js';
import { openKernelMap, unpin } from './map.kernel.js';
import { memoryPin, openMemoryMap, unpinMemoryMaps } from './map.memory.js';
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

const kernel = kernelPrereqs();
const pins = kernel.run
  ? testPinDir()
  : { dir: '/tmp/cellium-memory-pins', cleanup: () => unpinMemoryMaps('/tmp/cellium-memory-pins') };
afterAll(() => pins.cleanup());

let seq = 0;
function backends(): [string, Backend][] {
  return [
    ['memory', 'memory'],
    [kernel.run || kernel.fail ? 'kernel' : `kernel (skipped: ${kernel.reason})`, 'kernel'],
  ];
}

describe.each(backends())('%s backend', (_, backend) => {
  const skip = backend === 'kernel' && !kernel.run;
  if (backend === 'kernel') failOnMissing(kernel);
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
    for (let i = 0; i < 14; i++) m.update({ prefixlen: 32, ip: `10.2.0.${i}` }, { a: i, b: 0n });
    expect(() => m.update({ prefixlen: 32, ip: '10.3.0.0' }, { a: 0, b: 0n })).toThrow(
      /ENOSPC/, // a full trie, unlike a full hash (E2BIG)
    );
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

  /** Opens a spec pinned, collecting `outcome: message` lines. */
  const reopen = <K, V>(
    spec: Parameters<typeof openMap<K, V>>[0],
    log: string[],
    extra: { maxEntries?: number } = {},
  ) =>
    openMap(spec, {
      backend,
      pinDir: pins.dir,
      ...extra,
      log: (msg, outcome) => log.push(`${outcome}: ${msg}`),
    });

  it.skipIf(skip)('pinned: contents outlive close; the same shape is reused', () => {
    const spec = mapSpec({
      name: name(),
      type: MapType.Hash,
      key: u32,
      value: val,
      maxEntries: 16,
    });
    const log: string[] = [];
    const a = reopen(spec, log);
    a.update({ k: 7 }, { a: 70, b: 7n });
    a.close();
    const b = reopen(spec, log);
    expect(b.lookup({ k: 7 })).toEqual({ a: 70, b: 7n });
    expect(b.raw.layouts?.value.fields.map((f) => f.name)).toEqual(['a', 'b']); // its BTF
    b.close();
    expect(log.map((l) => l.split(':')[0])).toEqual(['created', 'reused']);
    if (backend === 'kernel') {
      // Unpinned, the next open starts empty.
      unpin(b.raw.pinPath ?? '');
      const fresh = open(spec, true);
      expect(fresh.count()).toBe(0);
      fresh.close();
    }
  });

  it.skipIf(skip)(
    'pinned map of maps: reopened, its inner maps are still readable and writable',
    () => {
      const inner = { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 5, flags: 0 };
      const spec = mapSpec({
        name: name(),
        type: MapType.HashOfMaps,
        key: u32,
        value: struct<{ id: number }>('map_id', [['id', 'u32']]),
        maxEntries: 8,
        inner,
      });
      const key = Buffer.from([3, 0, 0, 0]);
      const word = (n: number) => Buffer.from([n, 0, 0, 0]);
      const log: string[] = [];
      const a = reopen(spec, log);
      const table = createInnerMap(a.raw, 'table');
      table.update(word(0), word(42), 'any');
      setInnerMap(a.raw, key, table);
      table.close();
      a.close();
      const b = reopen(spec, log);
      const got = getInnerMap(b.raw, key);
      const out = Buffer.alloc(4);
      expect(got?.lookup(word(0), out)).toBe(true);
      expect(out.readUInt32LE(0)).toBe(42);
      got?.close();
      // A new table replaces the old one under the same key.
      const next = createInnerMap(b.raw, 'table2');
      next.update(word(0), word(7), 'any');
      setInnerMap(b.raw, key, next);
      next.close();
      const again = getInnerMap(b.raw, key);
      expect(again?.lookup(word(0), out)).toBe(true);
      expect(out.readUInt32LE(0)).toBe(7);
      again?.close();
      b.close();
      expect(log.map((l) => l.split(':')[0])).toEqual(['created', 'reused']);
    },
  );

  it.skipIf(skip)('pinned: a larger or smaller max carries the entries over', () => {
    const args = { name: name(), type: MapType.Hash, key: u32, value: val, maxEntries: 16 };
    const log: string[] = [];
    const a = reopen(mapSpec(args), log);
    for (const k of [1, 2, 3]) a.update({ k }, { a: k * 10, b: BigInt(k) });
    a.close();
    const bigger = reopen(mapSpec(args), log, { maxEntries: 64 });
    expect(bigger.raw.maxEntries).toBe(64);
    expect(bigger.lookup({ k: 2 })).toEqual({ a: 20, b: 2n });
    bigger.close();
    const smaller = reopen(mapSpec(args), log, { maxEntries: 3 });
    expect(smaller.raw.maxEntries).toBe(3);
    expect(new Map([...smaller.entries()].map(([k, v]) => [k.k, v.a]))).toEqual(
      new Map([
        [1, 10],
        [2, 20],
        [3, 30],
      ]),
    );
    expect(() => smaller.update({ k: 4 }, { a: 0, b: 0n })).toThrow(/full \(max entries 3\)/);
    smaller.close();
    expect(log[1]).toMatch(
      /^migrated: map cellium_t\d+ changed shape or layout; carried over 3 entries \(was: hash key 4 B value 16 B max 16 .* now: hash key 4 B value 16 B max 64/,
    );
    expect(log[2]).toMatch(/^migrated: .*carried over 3 entries .*max 3 flags 0/);
  });

  it.skipIf(skip)(
    'pinned: a max smaller than the entries held keeps the pinned map and its size',
    () => {
      const args = { name: name(), type: MapType.Hash, key: u32, value: val, maxEntries: 16 };
      const log: string[] = [];
      const a = reopen(mapSpec(args), log);
      for (const k of [1, 2, 3, 4, 5]) a.update({ k }, { a: k, b: 0n });
      a.close();
      const b = reopen(mapSpec(args), log, { maxEntries: 4 });
      expect(b.raw.maxEntries).toBe(16); // the size change is refused, not the entries dropped
      expect(b.count()).toBe(5);
      b.close();
      expect(log[1]).toMatch(
        /^kept-size: map cellium_t\d+ at \S+ not resized: it holds 5 entries, more than the wanted max 4: keeping its max of 16/,
      );
      // With a changed layout too, the entries move to the new layout at the old size.
      const v2 = struct<{ a: number; extra: number }>('val', [
        ['a', 'u32'],
        ['extra', 'u32'],
      ]);
      const c = reopen(mapSpec({ ...args, value: v2 }), log, { maxEntries: 4 });
      expect([c.raw.maxEntries, c.count(), c.lookup({ k: 5 })]).toEqual([
        16,
        5,
        { a: 5, extra: 0 },
      ]);
      c.close();
      expect(log[2]).toMatch(/^migrated: .*changed layout but was not resized: it holds 5 entries/);
    },
  );

  it.skipIf(skip)('pinned: a changed value layout is migrated field by field by name', () => {
    const nm = name();
    const log: string[] = [];
    const v1 = struct<{ a: number; flags: number; b: bigint }>('val', [
      ['a', 'u32'],
      ['flags', 'u16'],
      ['b', 'u64'],
    ]);
    const m1 = reopen(
      mapSpec({ name: nm, type: MapType.Hash, key: u32, value: v1, maxEntries: 16 }),
      log,
    );
    m1.update({ k: 1 }, { a: 10, flags: 3, b: 100n });
    m1.update({ k: 2 }, { a: 20, flags: 4, b: 200n });
    m1.close();
    // Reordered, `flags` widened to u32, `c` added.
    const v2 = struct<{ b: bigint; c: number; flags: number; a: number }>('val', [
      ['b', 'u64'],
      ['c', 'u16'],
      ['pad', { pad: 2 }],
      ['flags', 'u32'],
      ['a', 'u32'],
    ]);
    const m2 = reopen(
      mapSpec({ name: nm, type: MapType.Hash, key: u32, value: v2, maxEntries: 16 }),
      log,
    );
    expect(m2.lookup({ k: 1 })).toEqual({ b: 100n, c: 0, flags: 3, a: 10 });
    expect(m2.lookup({ k: 2 })).toEqual({ b: 200n, c: 0, flags: 4, a: 20 });
    m2.close();
    // `a` and `flags` removed; the key gains a field.
    const k2 = struct<{ k: number; zone: number }>('u32_key', [
      ['k', 'u32'],
      ['zone', 'u16'],
    ]);
    const v3 = struct<{ b: bigint }>('val', [['b', 'u64']]);
    const m3 = reopen(
      mapSpec({ name: nm, type: MapType.Hash, key: k2, value: v3, maxEntries: 16 }),
      log,
    );
    expect(m3.lookup({ k: 2, zone: 0 })).toEqual({ b: 200n });
    expect(m3.count()).toBe(2);
    m3.close();
    expect(log.map((l) => l.split(':')[0])).toEqual(['created', 'migrated', 'migrated']);
    expect(log[1]).toContain('val{a:u32@0,flags:u16@4,b:u64@8}');
    expect(log[1]).toContain('val{b:u64@0,c:u16@8,flags:u32@12,a:u32@16}');
  });

  it.skipIf(skip)(
    'pinned: fields swapped within the same sizes are migrated, not reused as they are',
    () => {
      const nm = name();
      const log: string[] = [];
      const m1 = reopen(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 16 }),
        log,
      );
      m1.update({ k: 1 }, { a: 10, b: 100n });
      m1.close();
      // Same key and value sizes (4 and 16 bytes), another layout.
      const swapped = struct<Val>('val', [
        ['b', 'u64'],
        ['a', 'u32'],
      ]);
      const m2 = reopen(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: swapped, maxEntries: 16 }),
        log,
      );
      expect(m2.lookup({ k: 1 })).toEqual({ b: 100n, a: 10 });
      m2.close();
      expect(log.map((l) => l.split(':')[0])).toEqual(['created', 'migrated']);
    },
  );

  it.skipIf(skip)('pinned: per-CPU values are migrated CPU by CPU', () => {
    const nm = name();
    const log: string[] = [];
    const m1 = reopen(
      perCpuMapSpec({ name: nm, type: MapType.PerCpuHash, key: u32, value: val, maxEntries: 8 }),
      log,
    );
    const n = m1.raw.ncpus;
    expect(m1.raw.layouts).toBeDefined();
    m1.update(
      { k: 1 },
      Array.from({ length: n }, (_, i) => ({ a: i + 1, b: BigInt(i * 10) })),
    );
    m1.close();
    const v2 = struct<{ b: bigint; c: number }>('val', [
      ['b', 'u64'],
      ['c', 'u32'],
    ]);
    const m2 = reopen(
      perCpuMapSpec({ name: nm, type: MapType.PerCpuHash, key: u32, value: v2, maxEntries: 32 }),
      log,
    );
    expect(m2.lookup({ k: 1 })).toEqual(
      Array.from({ length: n }, (_, i) => ({ b: BigInt(i * 10), c: 0 })),
    );
    m2.close();
    expect(log[1]).toMatch(/^migrated: .*carried over 1 entries/);
  });

  it.skipIf(skip)('pinned: arrays and LPM tries are migrated too', () => {
    const log: string[] = [];
    const arr = { name: name(), type: MapType.Array, key: u32, value: val, maxEntries: 4 };
    const a1 = reopen(mapSpec(arr), log);
    a1.update({ k: 2 }, { a: 2, b: 2n });
    a1.close();
    expect(a1.raw.layouts?.key.fields).toHaveLength(1); // kernel: described by BTF (a __u32 key)
    const a2 = reopen(mapSpec(arr), log, { maxEntries: 8 });
    expect([a2.raw.maxEntries, a2.lookup({ k: 2 }), a2.lookup({ k: 6 })]).toEqual([
      8,
      { a: 2, b: 2n },
      { a: 0, b: 0n },
    ]);
    a2.close();
    const lpm = {
      name: name(),
      type: MapType.LpmTrie,
      key: lpmKey,
      value: val,
      maxEntries: 4,
      flags: BPF_F_NO_PREALLOC,
    };
    const l1 = reopen(mapSpec(lpm), log);
    l1.update({ prefixlen: 8, ip: '10.0.0.0' }, { a: 8, b: 0n });
    l1.update({ prefixlen: 24, ip: '10.1.2.0' }, { a: 24, b: 0n });
    l1.close();
    expect(l1.raw.layouts).toBeDefined();
    const l2 = reopen(mapSpec(lpm), log, { maxEntries: 16 });
    expect(l2.lookup({ prefixlen: 32, ip: '10.1.2.3' })?.a).toBe(24);
    expect(l2.lookup({ prefixlen: 32, ip: '10.9.9.9' })?.a).toBe(8);
    l2.close();
    expect(log.map((l) => l.split(':')[0])).toEqual(['created', 'migrated', 'created', 'migrated']);
  });

  it.skipIf(skip)(
    'pinned: a field whose type changed is not guessed: the old map is kept aside',
    () => {
      const nm = name();
      const log: string[] = [];
      const m1 = reopen(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 16 }),
        log,
      );
      m1.update({ k: 1 }, { a: 1, b: 1n });
      m1.close();
      const v2 = struct<{ a: string; b: bigint }>('val', [
        ['a', 'ipv4'],
        ['b', 'u64'],
      ]);
      const m2 = reopen(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: v2, maxEntries: 16 }),
        log,
      );
      expect(m2.count()).toBe(0);
      m2.close();
      expect(log[1]).toMatch(
        /^kept-aside: map cellium_t\d+ at (\S+) cannot be migrated \(field a of val changed from u32 to ipv4\): its 1 entries are kept in the old map, now pinned at \1_prev; a new empty map took its place/,
      );
      const aside = openAside(backend, `${m2.raw.pinPath ?? ''}_prev`, m1.raw.shape);
      expect(aside.count()).toBe(1);
      aside.close();
    },
  );

  // Only the kernel has ring buffers (maps that cannot be iterated).
  if (backend === 'kernel')
    it.skipIf(skip)(
      'pinned: a map that cannot even be read (a ring buffer) is kept aside, the agent starts',
      () => {
        const nm = name();
        const path = `${pins.dir}/${nm}`;
        const ring = openKernelMap(
          { name: nm, type: MapType.RingBuf, keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0 },
          path,
        );
        ring.close();
        const log: string[] = [];
        const m = reopen(
          mapSpec({ name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 16 }),
          log,
        );
        m.update({ k: 1 }, { a: 1, b: 1n });
        expect(m.count()).toBe(1);
        m.close();
        expect(log.at(-1)).toMatch(/^kept-aside: .*its entries cannot be read/);
        expect(existsSync(`${path}_prev`)).toBe(true);
      },
    );

  it.skipIf(skip)(
    'pinned: a map without BTF of another layout is kept aside, never emptied',
    () => {
      const nm = name();
      const path = `${pins.dir}/${nm}`;
      const shape = {
        name: nm,
        type: MapType.Hash,
        keySize: 4,
        valueSize: 16,
        maxEntries: 16,
        flags: 0,
      };
      // As an agent without BTF support left it: no layouts.
      const raw = backend === 'kernel' ? openKernelMap(shape, path) : openMemoryMap(shape, path);
      expect(raw.layouts).toBeUndefined();
      const old = new BpfMap(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 16 }),
        raw,
      );
      old.update({ k: 1 }, { a: 1, b: 1n });
      old.update({ k: 2 }, { a: 2, b: 2n });
      old.close();
      const log: string[] = [];
      // The same sizes with another max: taken as the same layout, carried byte for byte.
      const same = reopen(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 32 }),
        log,
      );
      expect(same.lookup({ k: 2 })).toEqual({ a: 2, b: 2n });
      same.close();
      // Now it has BTF; strip it again by pinning a map without it, then change the value size.
      (backend === 'kernel' ? unpin : (p: string) => unpinMemoryMaps(p))(path);
      const bare = new BpfMap(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: val, maxEntries: 16 }),
        backend === 'kernel' ? openKernelMap(shape, path) : openMemoryMap(shape, path),
      );
      bare.update({ k: 3 }, { a: 3, b: 3n });
      bare.close();
      const small = struct<{ a: number }>('val', [['a', 'u32']]);
      const changed = reopen(
        mapSpec({ name: nm, type: MapType.Hash, key: u32, value: small, maxEntries: 16 }),
        log,
      );
      expect(changed.count()).toBe(0);
      changed.close();
      expect(log.map((l) => l.split(':')[0])).toEqual(['migrated', 'kept-aside']);
      expect(log[1]).toContain(
        `cannot be migrated (it has no BTF describing its layout, and its key or value size changed): its 1 entries are kept in the old map, now pinned at ${path}_prev`,
      );
      expect(log[1]).toContain(
        'was: hash key 4 B value 16 B max 16 flags 0; now: hash key 4 B value 4 B',
      );
      const aside = openAside(backend, `${path}_prev`, shape);
      expect(aside.lookup(Buffer.from([3, 0, 0, 0]), Buffer.alloc(16))).toBe(true);
      aside.close();
    },
  );

  it.skipIf(skip)('updateAll: all entries land, or none (the map is full on the second)', () => {
    const m = open(
      mapSpec({ name: name(), type: MapType.Hash, key: u32, value: val, maxEntries: 3 }),
    ).enableEvents();
    m.update({ k: 1 }, { a: 1, b: 1n });
    m.update({ k: 2 }, { a: 2, b: 2n });
    // k1 is replaced, k3 takes the last slot, k4 finds the map full: k3 goes, k1 comes back.
    let err: unknown;
    try {
      m.updateAll([
        [{ k: 1 }, { a: 100, b: 0n }],
        [{ k: 3 }, { a: 3, b: 3n }],
        [{ k: 4 }, { a: 4, b: 4n }],
      ]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).errno).toBe(E.E2BIG);
    expect(new Map([...m.entries()].map(([k, v]) => [k.k, v.a]))).toEqual(
      new Map([
        [1, 1],
        [2, 2],
      ]),
    );
    expect(m.recentEvents().at(-1)).toMatchObject({ action: 'update', key: { k: 4 } });
    expect(m.recentEvents().at(-1)?.error).toMatch(/is full/);
    m.updateAll([
      [{ k: 1 }, { a: 11, b: 0n }],
      [{ k: 3 }, { a: 33, b: 0n }],
    ]);
    expect([m.lookup({ k: 1 })?.a, m.lookup({ k: 3 })?.a, m.count()]).toEqual([11, 33, 3]);
    m.close();
  });

  it.skipIf(skip)('updateAll: an LPM trie rolls back the exact prefix it inserted', () => {
    const m = open(
      mapSpec({
        name: name(),
        type: MapType.LpmTrie,
        key: lpmKey,
        value: val,
        maxEntries: 2,
        flags: BPF_F_NO_PREALLOC,
      }),
    );
    m.update({ prefixlen: 24, ip: '10.0.0.0' }, { a: 24, b: 0n });
    // 10.0.0.5/32 is covered by the /24 (a lookup finds it) but absent: it must be deleted.
    expect(() =>
      m.updateAll([
        [
          { prefixlen: 32, ip: '10.0.0.5' },
          { a: 32, b: 0n },
        ],
        [
          { prefixlen: 32, ip: '10.0.0.6' },
          { a: 32, b: 0n },
        ],
      ]),
    ).toThrow(BpfError);
    expect([...m.keys()]).toEqual([{ prefixlen: 24, ip: '10.0.0.0' }]);
    m.close();
  });
});

/** Opens a map pinned aside by its raw shape, as an operator would inspect it. */
function openAside(backend: Backend, path: string, shape: MapShape): RawMap {
  if (backend === 'kernel') return openKernelMap(shape, path);
  const raw = memoryPin(path);
  if (!raw) throw new Error(`nothing pinned at ${path}`);
  return raw;
}

describe('updateAll with injected faults', () => {
  it('rolls back the first write when the second fails, and rethrows that error', () => {
    const raw = new FaultyMap(
      openMemoryMap({
        name: 'cellium_f',
        type: MapType.Hash,
        keySize: 4,
        valueSize: 16,
        maxEntries: 8,
        flags: 0,
      }),
    );
    const m = new BpfMap(
      mapSpec({ name: 'cellium_f', type: MapType.Hash, key: u32, value: val, maxEntries: 8 }),
      raw,
    );
    m.update({ k: 9 }, { a: 9, b: 9n });
    raw.fail('update', E.ENOSPC, 1, 1);
    expect(() =>
      m.updateAll([
        [{ k: 1 }, { a: 1, b: 1n }],
        [{ k: 2 }, { a: 2, b: 2n }],
      ]),
    ).toThrow(/ENOSPC/);
    expect([...m.keys()]).toEqual([{ k: 9 }]);
    // A failing rollback is kept as the last error; the original error is still what is thrown.
    // Updates: k9 NOEXIST (EEXIST), k9 EXIST, then k3 and the restore of k9 fail.
    raw.fail('update', E.EINVAL, 2, 2);
    expect(() =>
      m.updateAll([
        [{ k: 9 }, { a: 90, b: 0n }],
        [{ k: 3 }, { a: 3, b: 3n }],
      ]),
    ).toThrow(/EINVAL/);
    expect(m.lastError).toMatch(/^rolling back an update of cellium_f failed: .*EINVAL/);
  });
});
