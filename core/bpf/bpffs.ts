import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { libbpf } from './libbpf.js';

const BPF_FS_MAGIC = 0xcafe4a11;

/** Whether `path` (or, if it does not exist yet, its nearest existing parent) is on bpffs. */
export function onBpffs(path: string): boolean {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) return false;
    p = up;
  }
  return statfsSync(p).type === BPF_FS_MAGIC;
}

/**
 * Makes sure `path` is on a bpf filesystem, as Cilium does: nothing to do when it already is
 * (e.g. a directory under /sys/fs/bpf); otherwise mounts bpffs there (needs root).
 */
export function ensureBpffs(path: string): void {
  if (onBpffs(path)) {
    mkdirSync(path, { recursive: true });
    return;
  }
  mkdirSync(path, { recursive: true });
  const lib = libbpf();
  if (lib.mount('bpf', path, 'bpf', 0, null) !== 0) {
    throw new Error(`cannot mount bpffs at ${path}: errno ${lib.errno()} (needs root)`);
  }
}
