import type { Layout, MapLayouts } from './codec.js';
import { BpfError, E } from './errors.js';

/** BPF map types Cellium uses (values of enum bpf_map_type). */
export enum MapType {
  Hash = 1,
  Array = 2,
  PerCpuHash = 5,
  PerCpuArray = 6,
  LruHash = 9,
  LruPerCpuHash = 10,
  LpmTrie = 11,
  ArrayOfMaps = 12,
  HashOfMaps = 13,
  RingBuf = 27,
}

/** Whether a map type holds other maps (its values name inner maps). */
export function isMapOfMaps(t: MapType): boolean {
  return t === MapType.ArrayOfMaps || t === MapType.HashOfMaps;
}

/**
 * The maps a map-of-maps holds: every inner map has this shape (the kernel checks it when one is
 * put in), e.g. Maglev's per-service lookup tables.
 */
export interface InnerShape {
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

/** BPF_F_NO_PREALLOC: required for LPM tries. */
export const BPF_F_NO_PREALLOC = 1;

/** BPF_ANY, BPF_NOEXIST, BPF_EXIST. */
export type UpdateFlag = 'any' | 'noexist' | 'exist';

/** The numeric value of an update flag. */
export function flagValue(f: UpdateFlag): number {
  return f === 'any' ? 0 : f === 'noexist' ? 1 : 2;
}

/** Whether a map type keeps one value per CPU. */
export function isPerCpu(t: MapType): boolean {
  return t === MapType.PerCpuHash || t === MapType.PerCpuArray || t === MapType.LruPerCpuHash;
}

/**
 * A map declared once: name, type, key and value layouts, size. For per-CPU maps `V` is an
 * array with one value per possible CPU.
 */
export interface MapSpec<K, V> {
  readonly name: string;
  readonly type: MapType;
  readonly key: Layout<K>;
  /** The layout of one value (of one CPU's value, for per-CPU maps). */
  readonly element: Layout<unknown>;
  /** The codec of whole values for a number of CPUs. */
  readonly value: (ncpus: number) => Layout<V>;
  readonly maxEntries: number;
  readonly flags: number;
  /** For a map-of-maps: its inner maps (their size can be changed when opening). */
  readonly inner?: InnerShape;
}

/** What `mapSpec` and `perCpuMapSpec` take. */
export interface MapDecl<K, V> {
  readonly name: string;
  readonly type: MapType;
  readonly key: Layout<K>;
  readonly value: Layout<V>;
  readonly maxEntries: number;
  readonly flags?: number;
  readonly inner?: InnerShape;
}

/** Declares a map whose values are one `V` each. */
export function mapSpec<K, V>(s: MapDecl<K, V>): MapSpec<K, V> {
  if (isPerCpu(s.type)) throw new Error(`${s.name}: use perCpuMapSpec for per-CPU map types`);
  if (isMapOfMaps(s.type) !== (s.inner !== undefined)) {
    throw new Error(`${s.name}: a map-of-maps, and only one, declares its inner maps`);
  }
  return { ...s, element: s.value, value: () => s.value, flags: s.flags ?? 0 };
}

/** Declares a per-CPU map: lookups return one `V` per possible CPU. */
export function perCpuMapSpec<K, V>(s: MapDecl<K, V>): MapSpec<K, V[]> {
  if (!isPerCpu(s.type)) throw new Error(`${s.name}: not a per-CPU map type`);
  return { ...s, element: s.value, value: (n) => perCpuLayout(s.value, n), flags: s.flags ?? 0 };
}

/** Per-CPU values: each CPU's value padded to 8 bytes, as the kernel lays them out. */
export function perCpuLayout<V>(el: Layout<V>, ncpus: number): Layout<V[]> {
  const stride = Math.ceil(el.size / 8) * 8;
  return {
    cName: el.cName,
    size: stride * ncpus,
    fields: el.fields,
    encode(values, buf, off = 0) {
      buf.fill(0, off, off + stride * ncpus);
      for (let i = 0; i < ncpus; i++) {
        const v = values[i] ?? values[0];
        if (v !== undefined) el.encode(v, buf, off + i * stride);
      }
    },
    decode(buf, off = 0) {
      const out: V[] = [];
      for (let i = 0; i < ncpus; i++) out.push(el.decode(buf, off + i * stride));
      return out;
    },
    format(values) {
      return values.map((v, i) => `cpu${i}: ${el.format(v)}`).join('; ');
    },
  };
}

/** The shape of a map as the kernel sees it; `valueSize` is one CPU's value for per-CPU maps. */
export interface MapShape {
  readonly name: string;
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** A map-of-maps' inner maps. */
  readonly inner?: InnerShape;
}

/** What a backend implements: a map of raw key and value bytes with the kernel's semantics. */
export interface RawMap {
  readonly shape: MapShape;
  readonly name: string;
  readonly type: MapType;
  readonly keySize: number;
  /** The full value size (all CPUs for per-CPU maps). */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** Possible CPUs (1 unless per-CPU). */
  readonly ncpus: number;
  readonly backend: 'kernel' | 'memory';
  readonly pinPath: string | undefined;
  /** The key and value layouts the map carries (its BTF), if any. */
  readonly layouts: MapLayouts | undefined;
  /** Fills `out`; false when the key is absent. */
  lookup(key: Buffer, out: Buffer): boolean;
  /** Throws BpfError (E2BIG when full, EEXIST/ENOENT for the flags). */
  update(key: Buffer, value: Buffer, flag: UpdateFlag): void;
  /** False when the key was absent. */
  delete(key: Buffer): boolean;
  /** The key after `key` (the first when null); false at the end. */
  nextKey(key: Buffer | null, out: Buffer): boolean;
  /** Every entry, many per call where the backend can (the kernel's batch lookup). */
  dump(): Generator<[key: Buffer, value: Buffer]>;
  /** How many entries the map holds (arrays: every slot), as cheaply as the backend can. */
  count(): number;
  /** Updates `count` packed keys and values at once. */
  updateBatch(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void;
  /** Deletes `count` packed keys; returns how many were deleted. */
  deleteBatch(keys: Buffer, count: number): number;
  close(): void;
}

/** A write to a map, kept when the map records events. */
export interface MapEvent<K, V> {
  readonly time: Date;
  readonly action: 'update' | 'delete';
  readonly key: K;
  readonly value?: V;
  readonly error?: string;
}

/** The shape-derived parts of a backend, shared by the kernel and in-memory maps. */
export abstract class ShapedMap {
  /** The full value size: per-CPU values are padded to 8 bytes and repeated per CPU. */
  readonly valueSize: number;

  constructor(
    readonly shape: MapShape,
    readonly ncpus: number,
  ) {
    this.valueSize = isPerCpu(shape.type)
      ? Math.ceil(shape.valueSize / 8) * 8 * ncpus
      : shape.valueSize;
  }

  abstract update(key: Buffer, value: Buffer, flag: UpdateFlag): void;
  abstract delete(key: Buffer): boolean;

  /** Deletes packed keys one by one (absent keys are fine, unlike the kernel's batch delete). */
  deleteBatch(keys: Buffer, count: number): number {
    const ks = this.shape.keySize;
    let n = 0;
    for (let i = 0; i < count; i++) if (this.delete(keys.subarray(i * ks, (i + 1) * ks))) n++;
    return n;
  }

  /** Updates packed entries one by one (where the backend has no batch update). */
  protected updateEach(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void {
    const ks = this.shape.keySize;
    const vs = this.valueSize;
    for (let i = 0; i < count; i++) {
      this.update(keys.subarray(i * ks, (i + 1) * ks), values.subarray(i * vs, (i + 1) * vs), flag);
    }
  }

  get name(): string {
    return this.shape.name;
  }
  get type(): MapType {
    return this.shape.type;
  }
  get keySize(): number {
    return this.shape.keySize;
  }
  get maxEntries(): number {
    return this.shape.maxEntries;
  }
  get flags(): number {
    return this.shape.flags;
  }
}

/** The writes `BpfMap.ops` counts. */
export type MapOp = 'update' | 'delete';

/** A typed map over a backend: what cells use. */
export class BpfMap<K, V> {
  private readonly valueLayout: Layout<V>;
  private readonly k: Buffer;
  private readonly v: Buffer;
  /** The last operation error, for `cellium map list`. */
  lastError: string | undefined;
  errorCount = 0;
  /**
   * Writes done through this map since it was opened, by operation and outcome (entries of a
   * batch count one each; a failed batch counts once): Cilium's `bpf_map_ops_total`.
   */
  readonly ops: Record<MapOp, { ok: number; failed: number }> = {
    update: { ok: 0, failed: 0 },
    delete: { ok: 0, failed: 0 },
  };
  private events: { capacity: number; list: MapEvent<K, V>[] } | undefined;
  private readonly errorWatchers = new Set<(e: unknown) => void>();

  constructor(
    readonly spec: MapSpec<K, V>,
    readonly raw: RawMap,
  ) {
    this.valueLayout = spec.value(raw.ncpus);
    if (raw.keySize !== spec.key.size || raw.valueSize !== this.valueLayout.size) {
      throw new Error(
        `${spec.name}: map has key/value sizes ${raw.keySize}/${raw.valueSize}, layouts say ${spec.key.size}/${this.valueLayout.size}`,
      );
    }
    this.k = Buffer.alloc(raw.keySize);
    this.v = Buffer.alloc(raw.valueSize);
  }

  /** The map's name. */
  get name(): string {
    return this.spec.name;
  }

  /** The value for `key`, if present. */
  lookup(key: K): V | undefined {
    this.spec.key.encode(key, this.k);
    return this.guard(() =>
      this.raw.lookup(this.k, this.v) ? this.valueLayout.decode(this.v) : undefined,
    );
  }

  /** Inserts or replaces (`any`), only inserts (`noexist`) or only replaces (`exist`). */
  update(key: K, value: V, flag: UpdateFlag = 'any'): void {
    this.spec.key.encode(key, this.k);
    this.valueLayout.encode(value, this.v);
    try {
      this.raw.update(this.k, this.v, flag);
    } catch (e) {
      this.ops.update.failed++;
      this.failed(e, 'update', key, value);
    }
    this.ops.update.ok++;
    if (this.events) this.record({ time: new Date(), action: 'update', key, value });
  }

  /** Deletes `key`; false when it was absent (which is not an error). */
  delete(key: K): boolean {
    this.spec.key.encode(key, this.k);
    let gone = false;
    try {
      gone = this.raw.delete(this.k);
    } catch (e) {
      this.ops.delete.failed++;
      this.failed(e, 'delete', key);
    }
    this.ops.delete.ok++;
    if (gone && this.events) this.record({ time: new Date(), action: 'delete', key });
    return gone;
  }

  /** Keeps the last `capacity` writes (GET /v1/map/{name}/events). */
  enableEvents(capacity = 256): this {
    this.events = { capacity, list: [] };
    return this;
  }

  /** The recorded writes, oldest first (empty unless events are enabled). */
  recentEvents(): readonly MapEvent<K, V>[] {
    return this.events?.list ?? [];
  }

  /** Every key, in the backend's order. Entries deleted meanwhile are skipped. */
  *keys(): Generator<K> {
    let cur: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.raw.keySize);
      if (!this.raw.nextKey(cur, next)) return;
      yield this.spec.key.decode(next);
      cur = next;
    }
  }

  /** Every entry (read in batches from the kernel). */
  *entries(): Generator<[K, V]> {
    for (const [k, v] of this.raw.dump())
      yield [this.spec.key.decode(k), this.valueLayout.decode(v)];
  }

  /** How many entries the map holds (arrays: every slot); read in batches from the kernel. */
  count(): number {
    return this.guard(() => this.raw.count());
  }

  /**
   * Writes several entries of one object so that either all land or none does: on a failure
   * the keys written so far get their previous values back (or are deleted, if they were new)
   * and the original error is thrown. A failure while rolling back is counted and kept as the
   * map's last error.
   */
  updateAll(entries: readonly (readonly [K, V])[], flag: UpdateFlag = 'any'): void {
    const undo: { key: Buffer; prev: Buffer | undefined }[] = [];
    let at = 0;
    try {
      for (; at < entries.length; at++) {
        const [key, value] = entries[at] as readonly [K, V];
        const k = Buffer.alloc(this.raw.keySize);
        const v = Buffer.alloc(this.raw.valueSize);
        this.spec.key.encode(key, k);
        this.valueLayout.encode(value, v);
        undo.push({ key: k, prev: this.write(k, v, flag) });
      }
    } catch (e) {
      const [key, value] = entries[at] ?? [];
      this.ops.update.ok += at;
      this.ops.update.failed++;
      if (key !== undefined) this.noteFailure(e, 'update', key, value);
      this.rollback(undo);
      throw e;
    }
    this.ops.update.ok += entries.length;
    if (this.events) {
      const time = new Date();
      for (const [key, value] of entries) this.record({ time, action: 'update', key, value });
    }
  }

  /**
   * Writes one raw entry and returns the value it replaced (undefined when it inserted). A new
   * key is tried first with NOEXIST, so "absent" is exact, also for LPM tries, whose lookups
   * answer with shorter prefixes.
   */
  private write(k: Buffer, v: Buffer, flag: UpdateFlag): Buffer | undefined {
    if (flag !== 'exist') {
      try {
        this.raw.update(k, v, 'noexist');
        return undefined;
      } catch (e) {
        if (!(e instanceof BpfError && e.errno === E.EEXIST) || flag === 'noexist') throw e;
      }
    }
    const prev = Buffer.alloc(this.raw.valueSize);
    const had = this.raw.lookup(k, prev);
    this.raw.update(k, v, 'exist');
    // A key that vanished between lookup and update (LRU eviction) is rolled back by deleting.
    return had ? prev : undefined;
  }

  private rollback(undo: readonly { key: Buffer; prev: Buffer | undefined }[]): void {
    for (const { key, prev } of [...undo].reverse()) {
      try {
        if (prev === undefined) this.raw.delete(key);
        else this.raw.update(key, prev, 'any');
      } catch (e) {
        this.noteError(
          new Error(
            `rolling back an update of ${this.name} failed: ${e instanceof Error ? e.message : String(e)}`,
          ),
        );
      }
    }
  }

  /** Calls `fn` with every failed operation's error (e.g. to react to E2BIG); returns an unsubscribe. */
  watchErrors(fn: (e: unknown) => void): () => void {
    this.errorWatchers.add(fn);
    return () => {
      this.errorWatchers.delete(fn);
    };
  }

  /** Updates many entries with one call per chunk. */
  updateBatch(entries: readonly (readonly [K, V])[], flag: UpdateFlag = 'any', chunk = 4096): void {
    const ks = Buffer.alloc(this.raw.keySize * Math.min(chunk, entries.length));
    const vs = Buffer.alloc(this.raw.valueSize * Math.min(chunk, entries.length));
    for (let base = 0; base < entries.length; base += chunk) {
      const n = Math.min(chunk, entries.length - base);
      for (let i = 0; i < n; i++) {
        const [key, value] = entries[base + i] as readonly [K, V];
        this.spec.key.encode(key, ks, i * this.raw.keySize);
        this.valueLayout.encode(value, vs, i * this.raw.valueSize);
      }
      this.counted('update', n, () => {
        this.raw.updateBatch(ks, vs, n, flag);
      });
    }
  }

  /** Deletes many keys; returns how many existed. */
  deleteBatch(keys: readonly K[]): number {
    const ks = Buffer.alloc(this.raw.keySize * keys.length);
    keys.forEach((key, i) => {
      this.spec.key.encode(key, ks, i * this.raw.keySize);
    });
    return this.counted('delete', keys.length, () => this.raw.deleteBatch(ks, keys.length));
  }

  /** Formats a key and a value for display. */
  format(key: K, value: V): [string, string] {
    return [this.spec.key.format(key), this.valueLayout.format(value)];
  }

  /** Releases the map (its pin, if any, stays). */
  close(): void {
    this.raw.close();
  }

  private record(e: MapEvent<K, V>): void {
    const ev = this.events;
    if (!ev) return;
    ev.list.push(e);
    if (ev.list.length > ev.capacity) ev.list.shift();
  }

  private noteError(e: unknown): string {
    this.errorCount++;
    this.lastError = e instanceof Error ? e.message : String(e);
    for (const w of this.errorWatchers) w(e);
    return this.lastError;
  }

  private noteFailure(e: unknown, action: 'update' | 'delete', key: K, value?: V): void {
    const error = this.noteError(e);
    this.record({
      time: new Date(),
      action,
      key,
      ...(value !== undefined ? { value } : {}),
      error,
    });
  }

  private failed(e: unknown, action: 'update' | 'delete', key: K, value?: V): never {
    this.noteFailure(e, action, key, value);
    throw e;
  }

  private counted<R>(op: MapOp, n: number, fn: () => R): R {
    try {
      const r = this.guard(fn);
      this.ops[op].ok += n;
      return r;
    } catch (e) {
      this.ops[op].failed++;
      throw e;
    }
  }

  private guard<R>(fn: () => R): R {
    try {
      return fn();
    } catch (e) {
      this.noteError(e);
      throw e;
    }
  }
}

/** An ENOENT from a lookup or delete means "absent", not a failure. */
export function isAbsent(e: unknown): boolean {
  return e instanceof BpfError && e.errno === E.ENOENT;
}
