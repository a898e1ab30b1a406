import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MapLayouts } from './codec.js';
import { BpfError, check, E, errnoName, type BpfTarget } from './errors.js';
import { loadLayoutBtf, readLayoutBtf, type LoadedBtf } from './layout-btf.js';
import { libbpf, SIZES, type Libbpf, type MapInfo } from './libbpf.js';
import {
  flagValue,
  isMapOfMaps,
  isPerCpu,
  MapType,
  ShapedMap,
  type InnerShape,
  type MapShape,
  type RawMap,
  type UpdateFlag,
} from './map.js';
import { asidePath, reopenPinned, type PinReport } from './migrate.js';

function target(s: MapShape): BpfTarget {
  return { kind: 'map', name: s.name, maxEntries: s.maxEntries };
}

let cpus: number | undefined;

/** The number of possible CPUs (the stride count of per-CPU values). */
export function possibleCpus(): number {
  cpus ??= check(libbpf().libbpf_num_possible_cpus(), 'count CPUs', { kind: 'map', name: '-' });
  return cpus;
}

class KernelMap extends ShapedMap implements RawMap {
  readonly backend = 'kernel' as const;
  private readonly lib: Libbpf;
  private readonly t: BpfTarget;
  private readonly batchCount = new Uint32Array(1);
  private readonly batchOpts;
  private batchUnsupported: boolean;
  private closed = false;

  constructor(
    readonly fd: number,
    shape: MapShape,
    readonly pinPath: string | undefined,
    /** The layouts its BTF describes (undefined when it was created without BTF). */
    readonly layouts: MapLayouts | undefined,
  ) {
    super(shape, isPerCpu(shape.type) ? possibleCpus() : 1);
    this.lib = libbpf();
    this.t = target(shape);
    this.batchOpts = { sz: SIZES.batchOpts, elem_flags: 0, flags: 0 };
    // The kernel has no batch operations for LPM tries.
    this.batchUnsupported = shape.type === MapType.LpmTrie;
  }

  lookup(key: Buffer, out: Buffer): boolean {
    const r = this.lib.bpf_map_lookup_elem(this.fd, key, out);
    if (r === -E.ENOENT) return false;
    check(r, 'lookup', this.t);
    return true;
  }

  update(key: Buffer, value: Buffer, flag: UpdateFlag): void {
    check(this.lib.bpf_map_update_elem(this.fd, key, value, flagValue(flag)), 'update', this.t);
  }

  delete(key: Buffer): boolean {
    const r = this.lib.bpf_map_delete_elem(this.fd, key);
    if (r === -E.ENOENT) return false;
    check(r, 'delete', this.t);
    return true;
  }

  nextKey(key: Buffer | null, out: Buffer): boolean {
    const r = this.lib.bpf_map_get_next_key(this.fd, key, out);
    if (r === -E.ENOENT) return false;
    check(r, 'iterate', this.t);
    return true;
  }

  *dump(): Generator<[Buffer, Buffer]> {
    const ks = this.shape.keySize;
    const vs = this.valueSize;
    for (const b of this.batches()) {
      if (b === 'unsupported') {
        yield* this.dumpByKeys();
        return;
      }
      for (let i = 0; i < b.n; i++) {
        yield [
          Buffer.from(b.keys.subarray(i * ks, (i + 1) * ks)),
          Buffer.from(b.values.subarray(i * vs, (i + 1) * vs)),
        ];
      }
    }
  }

  count(): number {
    if (this.shape.type === MapType.Array || this.shape.type === MapType.PerCpuArray) {
      return this.shape.maxEntries;
    }
    let n = 0;
    for (const b of this.batches()) {
      if (b === 'unsupported') {
        let cur: Buffer | null = null;
        const a = Buffer.alloc(this.shape.keySize);
        const c = Buffer.alloc(this.shape.keySize);
        while (this.nextKey(cur, cur === a ? c : a)) {
          cur = cur === a ? c : a;
          n++;
        }
        return n;
      }
      n += b.n;
    }
    return n;
  }

  /**
   * The map in chunks read with the kernel's batch lookup (buffers reused between chunks), or
   * 'unsupported' first when the map has none: tries have no batch lookup, arrays are walked
   * by index.
   */
  private *batches(): Generator<{ keys: Buffer; values: Buffer; n: number } | 'unsupported'> {
    const t = this.shape.type;
    if (t === MapType.LpmTrie || t === MapType.Array || t === MapType.PerCpuArray) {
      yield 'unsupported';
      return;
    }
    const chunk = 1024;
    const keys = Buffer.alloc(this.shape.keySize * chunk);
    const values = Buffer.alloc(this.valueSize * chunk);
    const count = new Uint32Array(1);
    // Hash maps' batch cursor is a u32 bucket index.
    let inBatch: Buffer | null = null;
    const outBatch = Buffer.alloc(Math.max(8, this.shape.keySize));
    for (;;) {
      count[0] = chunk;
      const r = this.lib.bpf_map_lookup_batch(
        this.fd,
        inBatch,
        outBatch,
        keys,
        values,
        count,
        this.batchOpts,
      );
      if (r < 0 && r !== -E.ENOENT) {
        if (inBatch === null && (r === -E.EINVAL || r === -E.ENOTSUP)) {
          yield 'unsupported';
          return;
        }
        check(r, 'lookup batch', this.t);
      }
      yield { keys, values, n: count[0] };
      if (r === -E.ENOENT) return;
      inBatch = Buffer.from(outBatch);
    }
  }

  private *dumpByKeys(): Generator<[Buffer, Buffer]> {
    let cur: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.shape.keySize);
      if (!this.nextKey(cur, next)) return;
      const val = Buffer.alloc(this.valueSize);
      if (this.lookup(next, val)) yield [next, val];
      cur = next;
    }
  }

  updateBatch(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void {
    if (!this.batchUnsupported) {
      this.batchCount[0] = count;
      this.batchOpts.elem_flags = flagValue(flag);
      const r = this.lib.bpf_map_update_batch(
        this.fd,
        keys,
        values,
        this.batchCount,
        this.batchOpts,
      );
      if (r !== -E.EINVAL && r !== -E.ENOTSUP) {
        check(r, 'update batch', this.t);
        return;
      }
      this.batchUnsupported = true;
    }
    this.updateEach(keys, values, count, flag);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.close(this.fd);
  }
}

/** Where a map's creation reports the details nobody needs to act on (BTF fallback). */
type Debug = (msg: string) => void;

/**
 * Creates a map, described by BTF built from its layouts when given; a kernel that refuses the
 * BTF gets a map without it (the map works the same; only a later migration needs the BTF).
 */
function create(
  s: MapShape,
  layouts: MapLayouts | undefined,
  debug: Debug,
  pinPath?: string,
): KernelMap {
  const lib = libbpf();
  const name = s.name.slice(0, 15);
  const opts = { sz: SIZES.mapCreateOpts, map_flags: s.flags };
  if (s.inner) return createMapOfMaps(s, s.inner, pinPath);
  if (layouts) {
    let btf: LoadedBtf | undefined;
    try {
      btf = loadLayoutBtf(layouts, s.type === MapType.Array || s.type === MapType.PerCpuArray);
      const fd = lib.bpf_map_create(s.type, name, s.keySize, s.valueSize, s.maxEntries, {
        ...opts,
        btf_fd: btf.fd,
        btf_key_type_id: btf.keyTypeId,
        btf_value_type_id: btf.valueTypeId,
      });
      if (fd >= 0) return new KernelMap(fd, s, pinPath, layouts);
      debug(`map ${s.name}: the kernel refused its BTF (${errnoName(-fd)}); creating it without`);
    } catch (e) {
      debug(
        `map ${s.name}: no BTF (${e instanceof Error ? e.message : String(e)}); creating it without`,
      );
    } finally {
      btf?.free();
    }
  }
  const fd = check(
    lib.bpf_map_create(s.type, name, s.keySize, s.valueSize, s.maxEntries, opts),
    'create',
    target(s),
  );
  return new KernelMap(fd, s, pinPath, undefined);
}

/**
 * Creates a map-of-maps: the kernel takes the inner maps' shape from a template map given at
 * creation (closed right after). Such maps carry no BTF (the kernel refuses it for them).
 */
function createMapOfMaps(s: MapShape, inner: InnerShape, pinPath?: string): KernelMap {
  const lib = libbpf();
  const t = target(s);
  const template = check(
    lib.bpf_map_create(
      inner.type,
      `${s.name.slice(0, 11)}_tpl`,
      inner.keySize,
      inner.valueSize,
      inner.maxEntries,
      {
        sz: SIZES.mapCreateOpts,
        map_flags: inner.flags,
      },
    ),
    'create the inner map template of',
    t,
  );
  try {
    const fd = check(
      lib.bpf_map_create(s.type, s.name.slice(0, 15), s.keySize, s.valueSize, s.maxEntries, {
        sz: SIZES.mapCreateOpts,
        map_flags: s.flags,
        inner_map_fd: template,
      }),
      'create',
      t,
    );
    return new KernelMap(fd, s, pinPath, undefined);
  } finally {
    lib.close(template);
  }
}

/** Creates an unpinned inner map for a map-of-maps of shape `outer`. */
export function createKernelInnerMap(outer: MapShape, name: string): RawMap {
  const inner = outer.inner;
  if (!inner) throw new Error(`map ${outer.name} holds no inner maps`);
  const shape: MapShape = { name, ...inner };
  return create(shape, undefined, () => undefined);
}

/** Opens the map with kernel id `id` (what a map-of-maps' lookup returns) as `shape`. */
export function openKernelMapById(id: number, shape: MapShape): RawMap {
  const fd = check(libbpf().bpf_map_get_fd_by_id(id), 'open by id', {
    kind: 'map',
    name: `${shape.name} (id ${id})`,
  });
  return new KernelMap(fd, shape, undefined, undefined);
}

/** The inner maps' shape of a pinned map-of-maps, read from its first entry (none: empty). */
function innerShapeOf(outer: KernelMap): InnerShape | undefined {
  const key = Buffer.alloc(outer.keySize);
  if (!outer.nextKey(null, key)) return undefined;
  const value = Buffer.alloc(outer.valueSize);
  if (!outer.lookup(key, value)) return undefined;
  const fd = libbpf().bpf_map_get_fd_by_id(value.readUInt32LE(0));
  if (fd < 0) return undefined;
  try {
    const info = mapInfo(fd, outer.name);
    return {
      type: toMapType(info.type),
      keySize: info.key_size,
      valueSize: info.value_size,
      maxEntries: info.max_entries,
      flags: info.map_flags,
    };
  } finally {
    libbpf().close(fd);
  }
}

function sameInner(a: InnerShape, b: InnerShape): boolean {
  return (
    a.type === b.type &&
    a.keySize === b.keySize &&
    a.valueSize === b.valueSize &&
    a.maxEntries === b.maxEntries &&
    a.flags === b.flags
  );
}

/**
 * Reopens a pinned map-of-maps when it is the same shape with inner maps of the same shape;
 * otherwise a new empty one takes over the pin. Its entries are other maps, which cannot be
 * carried into a map of another inner shape: their owner writes them again (Maglev tables are
 * computed from desired state). An empty one is always replaced: the inner shape of a map-of-maps
 * is known only from its entries.
 */
function reopenMapOfMaps(
  s: MapShape,
  old: KernelMap,
  pinPath: string,
  report: (r: PinReport) => void,
): { raw: RawMap; reused: boolean } {
  const inner = innerShapeOf(old);
  const o = old.shape;
  const same =
    o.type === s.type &&
    o.keySize === s.keySize &&
    o.valueSize === s.valueSize &&
    o.maxEntries === s.maxEntries &&
    o.flags === s.flags &&
    inner !== undefined &&
    s.inner !== undefined &&
    sameInner(inner, s.inner);
  if (same) {
    report({ outcome: 'reused', message: `reopened pinned map ${pinPath}` });
    return { raw: old, reused: true };
  }
  const fresh = create(s, undefined, () => undefined, pinPath);
  try {
    pinOver(fresh.fd, pinPath);
  } catch (e) {
    fresh.close();
    throw e;
  }
  report(
    inner === undefined
      ? { outcome: 'created', message: `created and pinned ${pinPath} (replacing an empty map)` }
      : {
          outcome: 'migrated',
          message: `map ${s.name} at ${pinPath} replaced by an empty one: its inner maps were ${inner.maxEntries} entries, now ${s.inner?.maxEntries ?? 0}; their owner writes them again`,
        },
  );
  return { raw: fresh, reused: false };
}

/**
 * Reopens a pinned ring buffer of the same size and flags; otherwise a new empty one takes over
 * the pin. A ring has no entries to carry (and none can be read: the kernel refuses lookups);
 * the records its reader had not consumed yet are dropped with it.
 */
function reopenRingBuf(
  s: MapShape,
  old: KernelMap,
  pinPath: string,
  createFresh: () => KernelMap,
  report: (r: PinReport) => void,
): { raw: RawMap; reused: boolean } {
  if (old.maxEntries === s.maxEntries && old.flags === s.flags) {
    report({ outcome: 'reused', message: `reopened pinned map ${pinPath}` });
    return { raw: old, reused: true };
  }
  const fresh = createFresh();
  try {
    pinOver(fresh.fd, pinPath);
  } catch (e) {
    fresh.close();
    throw e;
  }
  report({
    outcome: 'migrated',
    message: `ring buffer ${s.name} at ${pinPath} replaced by an empty one of ${s.maxEntries} bytes (was ${old.maxEntries}): a ring has no entries to carry, records not read yet are dropped`,
  });
  return { raw: fresh, reused: false };
}

/** The kernel's description of an open map. */
export function mapInfo(fd: number, name: string): MapInfo {
  const info = {} as MapInfo;
  check(libbpf().bpf_obj_get_info_by_fd(fd, info, [SIZES.mapInfo]), 'inspect', {
    kind: 'map',
    name,
  });
  return info;
}

/** How to open a kernel map. */
export interface KernelMapOptions {
  /** The key and value layouts, given to the kernel as BTF so the pin describes itself. */
  readonly layouts?: MapLayouts;
  /** Told what happened to a pinned map. */
  readonly report?: (r: PinReport) => void;
  /** Told details nobody needs to act on (a map created without BTF). */
  readonly debug?: Debug;
}

/** The kernel's map type number as a MapType (one Cellium does not use keeps its number). */
function toMapType(n: number): MapType {
  const known: unknown = Object.values(MapType).find((t: unknown) => t === n);
  return (known ?? n) as MapType;
}

/** Pins a map at `pinPath` in one step: pinned beside it, then renamed over it. */
function pinOver(fd: number, pinPath: string): void {
  const tmp = `${pinPath}_new`; // bpffs refuses names with dots
  rmSync(tmp, { force: true }); // left by an agent that died mid-swap
  check(libbpf().bpf_obj_pin(fd, tmp), 'pin', { kind: 'pin', name: tmp });
  try {
    renameSync(tmp, pinPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Opens the map pinned at `pinPath` if its shape and layout match; otherwise migrates it by the
 * rules of migrate.ts (entries carried by field name into a new map that takes over the pin,
 * or the old map kept, in use or pinned aside, and reported). Without a pin path, creates a map.
 */
export function openKernelMap(s: MapShape, pinPath?: string, opts: KernelMapOptions = {}): RawMap {
  const lib = libbpf();
  const debug = opts.debug ?? (() => undefined);
  const report = opts.report ?? (() => undefined);
  if (pinPath === undefined) return create(s, opts.layouts, debug);
  if (!existsSync(pinPath)) {
    mkdirSync(dirname(pinPath), { recursive: true });
    const m = create(s, opts.layouts, debug, pinPath);
    const r = lib.bpf_obj_pin(m.fd, pinPath);
    if (r < 0) {
      m.close();
      throw new BpfError('pin', -r, { kind: 'pin', name: pinPath });
    }
    report({ outcome: 'created', message: `created and pinned ${pinPath}` });
    return m;
  }
  const oldFd = check(lib.bpf_obj_get(pinPath), 'open pinned', { kind: 'pin', name: pinPath });
  let old: KernelMap;
  let read: ReturnType<typeof readLayoutBtf>;
  try {
    const info = mapInfo(oldFd, s.name);
    read = readLayoutBtf(info.btf_id, info.btf_key_type_id, info.btf_value_type_id);
    const shape: MapShape = {
      name: s.name,
      type: toMapType(info.type),
      keySize: info.key_size,
      valueSize: info.value_size,
      maxEntries: info.max_entries,
      flags: info.map_flags,
      // A map of maps is reused only if its inner maps are of this shape (reopenMapOfMaps).
      ...(s.inner !== undefined ? { inner: s.inner } : {}),
    };
    old = new KernelMap(oldFd, shape, pinPath, 'layouts' in read ? read.layouts : undefined);
  } catch (e) {
    lib.close(oldFd);
    throw e;
  }
  if (isMapOfMaps(s.type)) {
    const r = reopenMapOfMaps(s, old, pinPath, report);
    if (!r.reused) old.close();
    return r.raw;
  }
  if (s.type === MapType.RingBuf && old.type === MapType.RingBuf) {
    const r = reopenRingBuf(s, old, pinPath, () => create(s, opts.layouts, debug, pinPath), report);
    if (!r.reused) old.close();
    return r.raw;
  }
  const used = { reused: false };
  try {
    const raw = reopenPinned(
      s,
      opts.layouts,
      {
        pinPath,
        found: {
          shape: old.shape,
          layouts: old.layouts,
          ...('problem' in read ? { layoutProblem: read.problem } : {}),
          raw: old,
        },
        create: (shape) => create(shape, opts.layouts, debug, pinPath),
        reuse: () => {
          used.reused = true;
          return old;
        },
        swap: (fresh) => {
          pinOver(mapFd(fresh), pinPath);
        },
        keepAside: () => {
          const aside = asidePath(pinPath, existsSync);
          check(lib.bpf_obj_pin(oldFd, aside), 'pin', { kind: 'pin', name: aside });
          return aside;
        },
      },
      report,
    );
    return raw;
  } finally {
    if (!used.reused) old.close();
  }
}

/** The fd behind a kernel map (to hand to libbpf when loading programs that use it). */
export function mapFd(m: RawMap): number {
  if (!(m instanceof KernelMap)) throw new Error(`${m.name} is not a kernel map`);
  return m.fd;
}

/** Removes a pin; the map lives on while programs or fds hold it. Absent is fine. */
export function unpin(pinPath: string): void {
  rmSync(pinPath, { force: true });
}
