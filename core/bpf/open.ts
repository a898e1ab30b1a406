import { join } from 'node:path';
import { libbpf } from './libbpf.js';
import { BpfMap, MapType, type MapSpec, type RawMap } from './map.js';
import { openKernelMap } from './map.kernel.js';
import { openMemoryMap } from './map.memory.js';
import type { PinOutcome, PinReport } from './migrate.js';

/** Where maps live: in the kernel (libbpf) or in this process. */
export type Backend = 'kernel' | 'memory';

/** Whether this process can use bpf(), and why not. */
export function probeKernel():
  { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  try {
    const raw = openKernelMap({
      name: 'cellium_probe',
      type: MapType.Array,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      flags: 0,
    });
    raw.close();
    void libbpf;
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/** How to open a map. */
export interface OpenMapOptions {
  readonly backend: Backend;
  /** Pin maps here (e.g. /sys/fs/bpf/tc/globals) so they outlive the agent. */
  readonly pinDir?: string;
  /** Told what happened to a pinned map (reused, created, migrated...); `report` has the details. */
  readonly log?: (msg: string, outcome: PinOutcome, report: PinReport) => void;
  /** Told details nobody needs to act on (a kernel map created without BTF). */
  readonly debug?: (msg: string) => void;
  /** The map's size, instead of the spec's (e.g. from `--bpf-lxc-map-max`). */
  readonly maxEntries?: number;
  /** A map-of-maps' inner maps' size, instead of the spec's (e.g. Maglev's table size). */
  readonly innerMaxEntries?: number;
  /** Wraps the backend, e.g. with a FaultyMap in tests. */
  readonly wrap?: (raw: RawMap) => RawMap;
  /** CPUs of per-CPU maps in memory (the kernel backend asks the kernel). */
  readonly memoryCpus?: number;
}

/** The most entries a map may be given (the kernel's max_entries is a u32). */
export const MAX_MAP_ENTRIES = 0xffffffff;

/**
 * Opens (creating or reusing its pin) a declared map on the chosen backend. The map carries its
 * key and value layouts (as BTF in the kernel), so a pin of another shape or layout can be
 * migrated with its entries (see migrate.ts).
 */
export function openMap<K, V>(spec: MapSpec<K, V>, opts: OpenMapOptions): BpfMap<K, V> {
  const maxEntries = opts.maxEntries ?? spec.maxEntries;
  if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_MAP_ENTRIES) {
    throw new Error(
      `map ${spec.name}: max entries must be an integer from 1 to ${MAX_MAP_ENTRIES}, not ${maxEntries}`,
    );
  }
  const shape = {
    name: spec.name,
    type: spec.type,
    keySize: spec.key.size,
    valueSize: spec.element.size,
    maxEntries,
    flags: spec.flags,
    ...(spec.inner
      ? { inner: { ...spec.inner, maxEntries: opts.innerMaxEntries ?? spec.inner.maxEntries } }
      : {}),
  };
  const layouts = { key: spec.key, value: spec.element };
  const report = (r: PinReport): void => opts.log?.(r.message, r.outcome, r);
  const pin = opts.pinDir === undefined ? undefined : join(opts.pinDir, spec.name);
  const raw =
    opts.backend === 'kernel'
      ? openKernelMap(shape, pin, { layouts, report, ...(opts.debug ? { debug: opts.debug } : {}) })
      : openMemoryMap(shape, pin, opts.memoryCpus, { layouts, report });
  return new BpfMap(spec, opts.wrap ? opts.wrap(raw) : raw);
}
