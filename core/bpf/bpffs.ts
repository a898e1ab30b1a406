import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { libbpf } from './libbpf.js';

const BPF_FS_MAGIC = 0xcafe4a11;

/** Where bpffs lives by convention (what Cilium mounts, and the agent's default --bpf-root). */
export const BPFFS_ROOT = '/sys/fs/bpf';

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
 * Creates `path` and its missing parents, one mkdir each, and names the directory that could
 * not be made. (Node's recursive mkdirSync loops forever when mkdir in an existing directory
 * fails with ENOENT, which is what sysfs answers under an unmounted /sys/fs/bpf.)
 */
export function mkdirs(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      if (code !== 'EEXIST') throw new Error(`cannot create ${dir}: ${code}`, { cause: e });
    }
  }
}

/**
 * Makes sure `path` is on a bpf filesystem, as Cilium does: nothing to mount when it already is
 * (e.g. a directory under a mounted /sys/fs/bpf); a path under an unmounted /sys/fs/bpf gets
 * bpffs mounted at /sys/fs/bpf (sysfs allows no directory there); any other path gets its own
 * bpffs mount. Needs root to mount.
 */
export function ensureBpffs(path: string): void {
  const abs = resolve(path);
  if (!onBpffs(abs)) {
    const mountAt = abs.startsWith(`${BPFFS_ROOT}/`) ? BPFFS_ROOT : abs;
    mkdirs(mountAt);
    const lib = libbpf();
    if (lib.mount('bpf', mountAt, 'bpf', 0, null) !== 0) {
      throw new Error(`cannot mount bpffs at ${mountAt}: errno ${lib.errno()} (needs root)`);
    }
  }
  mkdirs(abs);
}
