import { mkdirSync, readFileSync } from 'node:fs';
import { libbpf } from './libbpf.js';

/** Whether a bpf filesystem is mounted exactly at `path`. */
export function isBpffs(path: string): boolean {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return mounts.some((l) => {
    const [, target, type] = l.split(' ');
    return target === path && type === 'bpf';
  });
}

/** Mounts bpffs at `path` unless it is already mounted there (needs root), as Cilium does. */
export function ensureBpffs(path: string): void {
  if (isBpffs(path)) return;
  mkdirSync(path, { recursive: true });
  const lib = libbpf();
  if (lib.mount('bpf', path, 'bpf', 0, null) !== 0) {
    throw new Error(`cannot mount bpffs at ${path}: errno ${lib.errno()} (needs root)`);
  }
}
