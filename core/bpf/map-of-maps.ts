// Maps of maps (Maglev's per-service lookup tables): an outer map whose values name inner maps.
// Written with the inner map's fd, read back as its id; the same calls work on both backends.
import { BpfError, E } from './errors.js';
import type { RawMap } from './map.js';
import { createKernelInnerMap, mapFd, openKernelMapById } from './map.kernel.js';
import {
  createMemoryInnerMap,
  dropMemoryInnerMap,
  memoryInnerId,
  memoryInnerMap,
} from './map.memory.js';

/** Creates an unpinned inner map of `outer`'s inner shape (fill it, then `setInnerMap`). */
export function createInnerMap(outer: RawMap, name: string): RawMap {
  if (outer.backend === 'kernel') return createKernelInnerMap(outer.shape, name);
  return createMemoryInnerMap(outer.shape, name).raw;
}

/**
 * Points `key` of `outer` at `inner`, replacing what it pointed at in one step (the datapath sees
 * the old table or the new one, never a mix). The caller may close `inner` afterwards: the outer
 * map holds it.
 */
export function setInnerMap(outer: RawMap, key: Buffer, inner: RawMap): void {
  const value = Buffer.alloc(outer.valueSize);
  if (outer.backend === 'kernel') value.writeUInt32LE(mapFd(inner), 0);
  else {
    const id = memoryInnerId(inner);
    if (id === 0) throw new BpfError('update', E.EBADF, { kind: 'map', name: outer.name });
    const before = Buffer.alloc(outer.valueSize);
    value.writeUInt32LE(id, 0);
    const had = outer.lookup(key, before);
    outer.update(key, value, 'any');
    // The old table is no longer named by anyone (as the kernel frees it).
    if (had && before.readUInt32LE(0) !== id) dropMemoryInnerMap(before.readUInt32LE(0));
    return;
  }
  outer.update(key, value, 'any');
}

/** Opens the inner map `key` of `outer` points at (close it after use), or undefined. */
export function getInnerMap(outer: RawMap, key: Buffer): RawMap | undefined {
  const inner = outer.shape.inner;
  if (!inner) throw new Error(`map ${outer.name} holds no inner maps`);
  const value = Buffer.alloc(outer.valueSize);
  if (!outer.lookup(key, value)) return undefined;
  const id = value.readUInt32LE(0);
  if (outer.backend === 'memory') return memoryInnerMap(id);
  return openKernelMapById(id, { name: `${outer.name}_inner`, ...inner });
}

/** Removes `key` from `outer` (and, in memory, forgets the table it named). */
export function deleteInnerMap(outer: RawMap, key: Buffer): boolean {
  const value = Buffer.alloc(outer.valueSize);
  const had = outer.backend === 'memory' && outer.lookup(key, value);
  const gone = outer.delete(key);
  if (had) dropMemoryInnerMap(value.readUInt32LE(0));
  return gone;
}
