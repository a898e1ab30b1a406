import type { MapLayouts } from './codec.js';
import { BpfError, E, type BpfTarget } from './errors.js';
import { FaultyMap } from './map.faulty.js';
import {
  isMapOfMaps,
  MapType,
  ShapedMap,
  type MapShape,
  type RawMap,
  type UpdateFlag,
} from './map.js';
import { asidePath, reopenPinned, type PinReport } from './migrate.js';

/**
 * A map in memory with the kernel's semantics: max entries (E2BIG), NOEXIST/EXIST flags, LRU
 * eviction for LRU hashes, longest-prefix match for LPM tries, fixed slots for arrays, one
 * value per CPU for per-CPU maps, and records in order for ring buffers (which, as in the
 * kernel, have no entries to look up or iterate). Used without privileges and by isolated cell
 * tests.
 */
export class MemoryMap extends ShapedMap implements RawMap {
  readonly backend = 'memory' as const;
  private readonly data = new Map<string, Buffer>();
  /** Iteration order snapshot, rebuilt after a change (keeps a full walk linear). */
  private order: { ids: string[]; pos: Map<string, number> } | undefined;
  private readonly t: BpfTarget;
  /**
   * A ring buffer's records from `head` on are not read yet; `used` is the bytes they take as
   * the kernel counts them.
   */
  private readonly ring = { records: [] as Buffer[], head: 0, used: 0 };
  /** Called once when the next record is pushed (a reader waiting, as epoll on a kernel ring). */
  private readonly ringWaiters = new Set<() => void>();

  constructor(
    shape: MapShape,
    ncpus: number,
    readonly pinPath: string | undefined,
    /** Kept with the map, as the kernel keeps a map's BTF, so a pin describes itself. */
    readonly layouts: MapLayouts | undefined,
  ) {
    super(shape, ncpus);
    this.t = { kind: 'map', name: shape.name, maxEntries: shape.maxEntries };
    if (shape.type === MapType.LpmTrie && !(shape.flags & 1)) {
      throw new BpfError('create', E.EINVAL, this.t); // LPM tries need BPF_F_NO_PREALLOC
    }
    // As the kernel: no key or value, and a size that is a power of two number of pages.
    const size = shape.maxEntries;
    if (
      shape.type === MapType.RingBuf &&
      (shape.keySize !== 0 ||
        shape.valueSize !== 0 ||
        size % 4096 !== 0 ||
        (size & (size - 1)) !== 0)
    ) {
      throw new BpfError('create', E.EINVAL, this.t);
    }
  }

  /** Ring buffers have no entries: every entry operation is refused, as the kernel does. */
  private noEntries(op: string): void {
    if (this.shape.type === MapType.RingBuf) throw new BpfError(op, E.ENOTSUP, this.t);
  }

  /**
   * Appends a record to a ring buffer, as bpf_ringbuf_output does: false when it does not fit.
   * Each record takes an 8-byte header and its data rounded up to 8 bytes, and, as in the
   * kernel, the records not read yet must stay under the ring's size.
   */
  pushRecord(data: Buffer): boolean {
    if (this.shape.type !== MapType.RingBuf) throw new BpfError('output', E.EINVAL, this.t);
    const len = ringRecordBytes(data.length);
    if (this.ring.used + len > this.shape.maxEntries - 1) return false;
    this.ring.records.push(Buffer.from(data));
    this.ring.used += len;
    const waiters = [...this.ringWaiters];
    this.ringWaiters.clear();
    for (const w of waiters) w();
    return true;
  }

  /** Whether a ring buffer holds records not read yet. */
  hasRecords(): boolean {
    return this.ring.head < this.ring.records.length;
  }

  /** Calls `wake` once, when the next record is pushed; the returned function cancels that. */
  onNextRecord(wake: () => void): () => void {
    this.ringWaiters.add(wake);
    return () => this.ringWaiters.delete(wake);
  }

  /** Takes the oldest record of a ring buffer (undefined when none waits). */
  takeRecord(): Buffer | undefined {
    const ring = this.ring;
    const r = ring.records[ring.head];
    if (!r) return undefined;
    ring.used -= ringRecordBytes(r.length);
    ring.head++;
    // Read records are dropped in bulk, so draining a long ring stays linear.
    if (ring.head * 2 >= ring.records.length) {
      ring.records.splice(0, ring.head);
      ring.head = 0;
    }
    return r;
  }

  private isArray(): boolean {
    return this.shape.type === MapType.Array || this.shape.type === MapType.PerCpuArray;
  }

  private isLru(): boolean {
    return this.shape.type === MapType.LruHash || this.shape.type === MapType.LruPerCpuHash;
  }

  /** LPM keys are stored with the bits past their prefix length cleared. */
  private id(key: Buffer): string {
    if (this.shape.type !== MapType.LpmTrie) return key.toString('hex');
    const plen = key.readUInt32LE(0);
    const bits = (key.length - 4) * 8;
    if (plen > bits) throw new BpfError('update', E.EINVAL, this.t);
    const k = Buffer.from(key);
    for (let i = 0; i < key.length - 4; i++) {
      const keep = Math.max(0, Math.min(8, plen - i * 8));
      k[4 + i] = (k[4 + i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
    }
    return k.toString('hex');
  }

  private arrayIndex(key: Buffer): number {
    return key.readUInt32LE(0);
  }

  lookup(key: Buffer, out: Buffer): boolean {
    this.noEntries('lookup');
    if (this.isArray()) {
      const i = this.arrayIndex(key);
      if (i >= this.shape.maxEntries) return false;
      const v = this.data.get(String(i));
      if (v) v.copy(out);
      else out.fill(0, 0, this.valueSize);
      return true;
    }
    if (this.shape.type === MapType.LpmTrie) return this.longestPrefix(key, out);
    const id = key.toString('hex');
    const v = this.data.get(id);
    if (!v) return false;
    if (this.isLru()) {
      this.data.delete(id);
      this.data.set(id, v);
      this.order = undefined;
    }
    v.copy(out);
    return true;
  }

  private longestPrefix(key: Buffer, out: Buffer): boolean {
    const plen = key.readUInt32LE(0);
    let best: Buffer | undefined;
    let bestLen = -1;
    for (const [id, v] of this.data) {
      const k = Buffer.from(id, 'hex');
      const p = k.readUInt32LE(0);
      if (p > plen || p <= bestLen) continue;
      let match = true;
      for (let bit = 0; bit < p && match; bit++) {
        const byte = 4 + (bit >> 3);
        const mask = 0x80 >> (bit & 7);
        match = ((k[byte] ?? 0) & mask) === ((key[byte] ?? 0) & mask);
      }
      if (match) [best, bestLen] = [v, p];
    }
    if (!best) return false;
    best.copy(out);
    return true;
  }

  update(key: Buffer, value: Buffer, flag: UpdateFlag): void {
    this.noEntries('update');
    if (this.shape.inner) {
      // As the kernel: the value names a map whose shape is the declared inner shape.
      const inner = innerMaps.get(value.readUInt32LE(0));
      const want = this.shape.inner;
      if (
        !inner ||
        inner.type !== want.type ||
        inner.keySize !== want.keySize ||
        inner.shape.valueSize !== want.valueSize ||
        inner.maxEntries !== want.maxEntries
      ) {
        throw new BpfError('update', E.EINVAL, this.t);
      }
    }
    if (this.isArray()) {
      const i = this.arrayIndex(key);
      if (i >= this.shape.maxEntries) throw new BpfError('update', E.E2BIG, this.t);
      if (flag === 'noexist') throw new BpfError('update', E.EEXIST, this.t);
      this.data.set(String(i), Buffer.from(value.subarray(0, this.valueSize)));
      return;
    }
    const id = this.id(key);
    const exists = this.data.has(id);
    if (flag === 'noexist' && exists) throw new BpfError('update', E.EEXIST, this.t);
    if (flag === 'exist' && !exists) throw new BpfError('update', E.ENOENT, this.t);
    if (!exists && this.data.size >= this.shape.maxEntries) {
      // As the kernel: a full LPM trie answers ENOSPC, a full hash E2BIG.
      const full = this.shape.type === MapType.LpmTrie ? E.ENOSPC : E.E2BIG;
      if (!this.isLru()) throw new BpfError('update', full, this.t);
      const oldest = this.data.keys().next();
      if (!oldest.done) this.data.delete(oldest.value);
      this.order = undefined;
    }
    if (exists && this.isLru()) this.data.delete(id); // an update counts as a use
    if (!exists || this.isLru()) this.order = undefined;
    this.data.set(id, Buffer.from(value.subarray(0, this.valueSize)));
  }

  delete(key: Buffer): boolean {
    this.noEntries('delete');
    if (this.isArray()) throw new BpfError('delete', E.EINVAL, this.t);
    const gone = this.data.delete(this.id(key));
    if (gone) this.order = undefined;
    return gone;
  }

  nextKey(key: Buffer | null, out: Buffer): boolean {
    this.noEntries('iterate');
    if (this.isArray()) {
      const next = key === null ? 0 : this.arrayIndex(key) + 1;
      if (next >= this.shape.maxEntries) return false;
      out.writeUInt32LE(next, 0);
      return true;
    }
    if (!this.order) {
      const ids = [...this.data.keys()];
      this.order = { ids, pos: new Map(ids.map((id, i) => [id, i])) };
    }
    let i = 0;
    if (key !== null) {
      const at = this.order.pos.get(this.id(key));
      // As the kernel does for a key that is gone: start over from the first.
      i = at === undefined ? 0 : at + 1;
    }
    const id = this.order.ids[i];
    if (id === undefined) return false;
    Buffer.from(id, 'hex').copy(out);
    return true;
  }

  *dump(): Generator<[Buffer, Buffer]> {
    this.noEntries('iterate');
    if (this.isArray()) {
      for (let i = 0; i < this.shape.maxEntries; i++) {
        const k = Buffer.alloc(this.shape.keySize);
        k.writeUInt32LE(i, 0);
        const v = this.data.get(String(i));
        yield [k, v ? Buffer.from(v) : Buffer.alloc(this.valueSize)];
      }
      return;
    }
    for (const [id, v] of [...this.data]) yield [Buffer.from(id, 'hex'), Buffer.from(v)];
  }

  count(): number {
    this.noEntries('iterate');
    return this.isArray() ? this.shape.maxEntries : this.data.size;
  }

  updateBatch(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void {
    this.updateEach(keys, values, count, flag);
  }

  close(): void {
    // Nothing to release: a "pinned" memory map lives on in memoryPins.
  }
}

/** The bytes a ring buffer record takes: an 8-byte header and the data rounded up to 8. */
export function ringRecordBytes(dataLength: number): number {
  return 8 + Math.ceil(dataLength / 8) * 8;
}

/** The in-memory ring buffer behind `map` (looking through a FaultyMap), or a throw. */
function memoryRing(map: RawMap): MemoryMap {
  let m = map;
  while (m instanceof FaultyMap) m = m.inner;
  if (!(m instanceof MemoryMap) || m.type !== MapType.RingBuf) {
    throw new Error(`map ${map.name} is not an in-memory ring buffer`);
  }
  return m;
}

/**
 * Writes a record into an in-memory ring buffer map, as a BPF program's bpf_ringbuf_output
 * does (for test doubles and in-memory datapaths); false when the ring is full.
 */
export function memoryRingPush(map: RawMap, data: Buffer): boolean {
  return memoryRing(map).pushRecord(data);
}

/**
 * Calls `wake` once when a record waits in an in-memory ring buffer map (at once, on the next
 * turn, if one waits already); the returned function cancels it.
 */
export function memoryRingWait(map: RawMap, wake: () => void): () => void {
  const m = memoryRing(map);
  if (m.hasRecords()) {
    const t = setImmediate(wake);
    return () => clearImmediate(t);
  }
  return m.onNextRecord(wake);
}

/** Takes the oldest record waiting in an in-memory ring buffer map (undefined when none). */
export function memoryRingTake(map: RawMap): Buffer | undefined {
  return memoryRing(map).takeRecord();
}

const memoryPins = new Map<string, RawMap>();

// Inner maps of in-memory maps-of-maps, by the id their outer map's values carry (the kernel's
// map ids, here a counter).
const innerMaps = new Map<number, MemoryMap>();
let nextInnerId = 1;

/** Creates an in-memory inner map for a map-of-maps of shape `outer`; returns it and its id. */
export function createMemoryInnerMap(outer: MapShape, name: string): { raw: RawMap; id: number } {
  if (!outer.inner) throw new Error(`map ${outer.name} holds no inner maps`);
  const raw = new MemoryMap({ name, ...outer.inner }, 1, undefined, undefined);
  const id = nextInnerId++;
  innerMaps.set(id, raw);
  return { raw, id };
}

/** The in-memory inner map with this id (what an outer map's value names). */
export function memoryInnerMap(id: number): RawMap | undefined {
  return innerMaps.get(id);
}

/**
 * The id of an in-memory map as an inner map (0 when it is not an in-memory map): a map opened
 * on its own (pinned, as policy maps are) gets an id the first time an outer map takes it, as the
 * kernel gives every map one.
 */
export function memoryInnerId(raw: RawMap): number {
  for (const [id, m] of innerMaps) if (m === raw) return id;
  if (!(raw instanceof MemoryMap)) return 0;
  const id = nextInnerId++;
  innerMaps.set(id, raw);
  return id;
}

/** Forgets an in-memory inner map that no outer map names any more. */
export function dropMemoryInnerMap(id: number): void {
  innerMaps.delete(id);
}

/** How to open an in-memory map. */
export interface MemoryMapOptions {
  /** The key and value layouts, kept with the map (and its pin). */
  readonly layouts?: MapLayouts;
  /** Told what happened to a pinned map. */
  readonly report?: (r: PinReport) => void;
}

/**
 * Opens (or creates) an in-memory map. A pin path makes it outlive close() within this process,
 * as a pinned kernel map outlives the agent; a pin of another shape or layout is migrated by the
 * same rules as the kernel's (entries carried by field name, or kept aside, never dropped).
 */
export function openMemoryMap(
  s: MapShape,
  pinPath?: string,
  ncpus = 2,
  opts: MemoryMapOptions = {},
): RawMap {
  const report = opts.report ?? (() => undefined);
  if (pinPath === undefined) return new MemoryMap(s, ncpus, undefined, opts.layouts);
  const old = memoryPins.get(pinPath);
  if (old && s.type === MapType.RingBuf && old.type === MapType.RingBuf) {
    if (old.maxEntries === s.maxEntries && old.flags === s.flags) {
      report({ outcome: 'reused', message: `reopened pinned map ${pinPath}` });
      return old;
    }
    // As the kernel backend: a ring buffer has no entries to carry into one of another size.
    const m = new MemoryMap(s, ncpus, pinPath, opts.layouts);
    memoryPins.set(pinPath, m);
    report({
      outcome: 'migrated',
      message: ringReplaced(s, old.maxEntries, pinPath),
    });
    return m;
  }
  if (old && isMapOfMaps(s.type)) {
    const o = old.shape;
    const same =
      o.type === s.type &&
      o.keySize === s.keySize &&
      o.valueSize === s.valueSize &&
      o.maxEntries === s.maxEntries &&
      o.flags === s.flags &&
      JSON.stringify(o.inner) === JSON.stringify(s.inner);
    if (same) {
      report({ outcome: 'reused', message: `reopened pinned map ${pinPath}` });
      return old;
    }
    // As the kernel backend: a map-of-maps of another inner shape starts empty.
    const m = new MemoryMap(s, ncpus, pinPath, opts.layouts);
    memoryPins.set(pinPath, m);
    report({
      outcome: 'migrated',
      message: `map ${s.name} at ${pinPath} replaced by an empty one: its inner maps changed shape; their owner writes them again`,
    });
    return m;
  }
  if (!old) {
    const m = new MemoryMap(s, ncpus, pinPath, opts.layouts);
    memoryPins.set(pinPath, m);
    report({ outcome: 'created', message: `created and pinned ${pinPath}` });
    return m;
  }
  return reopenPinned(
    s,
    opts.layouts,
    {
      pinPath,
      found: { shape: { ...old.shape, name: s.name }, layouts: old.layouts, raw: old },
      create: (shape) => new MemoryMap(shape, ncpus, pinPath, opts.layouts),
      reuse: () => old,
      swap: (fresh) => memoryPins.set(pinPath, fresh),
      keepAside: () => {
        const aside = asidePath(pinPath, (p) => memoryPins.has(p));
        memoryPins.set(aside, old);
        return aside;
      },
    },
    report,
  );
}

/** What replacing a pinned ring buffer of another size reports (as map.kernel.ts does). */
function ringReplaced(s: MapShape, oldSize: number, pinPath: string): string {
  return `ring buffer ${s.name} at ${pinPath} replaced by an empty one of ${s.maxEntries} bytes (was ${oldSize}): a ring has no entries to carry, records not read yet are dropped`;
}

/** The in-memory map pinned at a path, if any (tests, and maps kept aside). */
export function memoryPin(pinPath: string): RawMap | undefined {
  return memoryPins.get(pinPath);
}

/** Removes one in-memory pin (the map lives on while someone holds it). Absent is fine. */
export function unpinMemoryMap(pinPath: string): void {
  memoryPins.delete(pinPath);
}

/** Forgets in-memory pins under a path prefix (tests). */
export function unpinMemoryMaps(prefix: string): void {
  for (const k of [...memoryPins.keys()]) if (k.startsWith(prefix)) memoryPins.delete(k);
}
