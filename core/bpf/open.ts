import { join } from 'node:path';
import { libbpf } from './libbpf.js';
import { BpfMap, MapType, type MapSpec, type RawMap } from './map.js';
import { openKernelMap, type PinOutcome } from './map.kernel.js';
import { openMemoryMap } from './map.memory.js';

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
  /** Told what happened to a pinned map (reused, created, migrated...). */
  readonly log?: (msg: string, outcome: PinOutcome) => void;
  /** Wraps the backend, e.g. with a FaultyMap in tests. */
  readonly wrap?: (raw: RawMap) => RawMap;
  /** CPUs of per-CPU maps in memory (the kernel backend asks the kernel). */
  readonly memoryCpus?: number;
}

/** Opens (creating or reusing its pin) a declared map on the chosen backend. */
export function openMap<K, V>(spec: MapSpec<K, V>, opts: OpenMapOptions): BpfMap<K, V> {
  const shape = {
    name: spec.name,
    type: spec.type,
    keySize: spec.key.size,
    valueSize: spec.element.size,
    maxEntries: spec.maxEntries,
    flags: spec.flags,
  };
  const pin = opts.pinDir === undefined ? undefined : join(opts.pinDir, spec.name);
  const raw =
    opts.backend === 'kernel'
      ? openKernelMap(shape, pin, opts.log)
      : openMemoryMap(shape, pin, opts.memoryCpus);
  return new BpfMap(spec, opts.wrap ? opts.wrap(raw) : raw);
}
