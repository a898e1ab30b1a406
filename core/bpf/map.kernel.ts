import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BpfError, check, E, type BpfTarget } from './errors.js';
import { libbpf, SIZES, type Libbpf, type MapInfo } from './libbpf.js';
import {
  flagValue,
  isPerCpu,
  MapType,
  ShapedMap,
  type MapShape,
  type RawMap,
  type UpdateFlag,
} from './map.js';

/** What happened when a pinned map was opened. */
export type PinOutcome = 'created' | 'reused' | 'migrated' | 'recreated';

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
  private readonly count = new Uint32Array(1);
  private readonly batchOpts;
  private batchUnsupported: boolean;
  private closed = false;

  constructor(
    readonly fd: number,
    shape: MapShape,
    readonly pinPath: string | undefined,
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
    if (
      this.shape.type === MapType.LpmTrie ||
      this.shape.type === MapType.Array ||
      this.shape.type === MapType.PerCpuArray
    ) {
      yield* this.dumpByKeys(); // no batch lookup for tries; arrays are walked by index
      return;
    }
    const chunk = 1024;
    const ks = this.shape.keySize;
    const vs = this.valueSize;
    const keys = Buffer.alloc(ks * chunk);
    const values = Buffer.alloc(vs * chunk);
    const count = new Uint32Array(1);
    // Hash maps' batch cursor is a u32 bucket index.
    let inBatch: Buffer | null = null;
    const outBatch = Buffer.alloc(Math.max(8, ks));
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
          yield* this.dumpByKeys();
          return;
        }
        check(r, 'lookup batch', this.t);
      }
      const n = count[0];
      for (let i = 0; i < n; i++) {
        yield [
          Buffer.from(keys.subarray(i * ks, (i + 1) * ks)),
          Buffer.from(values.subarray(i * vs, (i + 1) * vs)),
        ];
      }
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
      this.count[0] = count;
      this.batchOpts.elem_flags = flagValue(flag);
      const r = this.lib.bpf_map_update_batch(this.fd, keys, values, this.count, this.batchOpts);
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

function create(s: MapShape): number {
  const lib = libbpf();
  return check(
    lib.bpf_map_create(s.type, s.name.slice(0, 15), s.keySize, s.valueSize, s.maxEntries, {
      sz: SIZES.mapCreateOpts,
      map_flags: s.flags,
    }),
    'create',
    target(s),
  );
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

function sameShape(info: MapInfo, s: MapShape): boolean {
  return (
    info.type === (s.type as number) &&
    info.key_size === s.keySize &&
    info.value_size === s.valueSize &&
    info.max_entries === s.maxEntries &&
    info.map_flags === s.flags
  );
}

/** Copies what fits from an old map into a new one of another shape; returns how many. */
function migrate(oldFd: number, old: MapInfo, fresh: KernelMap): number {
  if (
    old.key_size !== fresh.keySize ||
    old.value_size !== fresh.shape.valueSize ||
    old.type !== (fresh.type as number)
  ) {
    return 0; // a different layout: nothing can be carried over safely
  }
  const lib = libbpf();
  const valueBytes = isPerCpu(fresh.type) ? fresh.valueSize : old.value_size;
  let cur: Buffer | null = null;
  const val = Buffer.alloc(valueBytes);
  let n = 0;
  for (;;) {
    const next = Buffer.alloc(old.key_size);
    if (lib.bpf_map_get_next_key(oldFd, cur, next) !== 0) break;
    if (lib.bpf_map_lookup_elem(oldFd, next, val) === 0 && n < fresh.maxEntries) {
      fresh.update(next, val, 'any');
      n++;
    }
    cur = next;
  }
  return n;
}

/**
 * Opens the map pinned at `pinPath` if its shape matches; otherwise creates a new map, carries
 * over what it can, and swaps the pin (rename on bpffs). Without a pin path, creates a map.
 */
export function openKernelMap(
  s: MapShape,
  pinPath?: string,
  log: (msg: string, outcome: PinOutcome) => void = () => undefined,
): RawMap {
  const lib = libbpf();
  if (pinPath === undefined) return new KernelMap(create(s), s, undefined);
  if (existsSync(pinPath)) {
    const oldFd = check(lib.bpf_obj_get(pinPath), 'open pinned', { kind: 'pin', name: pinPath });
    const info = mapInfo(oldFd, s.name);
    if (sameShape(info, s)) {
      log(`reopened pinned map ${pinPath}`, 'reused');
      return new KernelMap(oldFd, s, pinPath);
    }
    const fresh = new KernelMap(create(s), s, pinPath);
    const carried = migrate(oldFd, info, fresh);
    const tmp = `${pinPath}_new`; // bpffs refuses names with dots
    check(lib.bpf_obj_pin(fresh.fd, tmp), 'pin', { kind: 'pin', name: tmp });
    renameSync(tmp, pinPath);
    lib.close(oldFd);
    log(
      `map ${s.name} changed shape (type ${info.type}, key ${info.key_size}, value ${info.value_size}, max ${info.max_entries}, flags ${info.map_flags} → ` +
        `type ${s.type}, key ${s.keySize}, value ${s.valueSize}, max ${s.maxEntries}, flags ${s.flags}); ` +
        (carried > 0 ? `carried over ${carried} entries` : 'its entries could not be carried over'),
      carried > 0 ? 'migrated' : 'recreated',
    );
    return fresh;
  }
  mkdirSync(dirname(pinPath), { recursive: true });
  const fd = create(s);
  const r = lib.bpf_obj_pin(fd, pinPath);
  if (r < 0) {
    lib.close(fd);
    throw new BpfError('pin', -r, { kind: 'pin', name: pinPath });
  }
  log(`created and pinned ${pinPath}`, 'created');
  return new KernelMap(fd, s, pinPath);
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
