// Programs on cgroup v2 hooks (socket-level load balancing: connect, sendmsg, recvmsg,
// getpeername). Attached with BPF_F_ALLOW_MULTI, so they sit beside programs others attach at
// the same hook; the caller keeps the ids of its own to take them off later.
import { closeSync, openSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { check, E, type BpfTarget } from './errors.js';
import { libbpf } from './libbpf.js';

/** The cgroup attach points of socket-level load balancing (enum bpf_attach_type). */
export const CGROUP_ATTACH = {
  connect4: 10,
  connect6: 11,
  sendmsg4: 14,
  sendmsg6: 15,
  recvmsg4: 19,
  recvmsg6: 20,
  getpeername4: 29,
  getpeername6: 30,
} as const;

/** A cgroup attach point by name. */
export type CgroupHook = keyof typeof CGROUP_ATTACH;

const BPF_F_ALLOW_MULTI = 2;

function target(path: string, hook: CgroupHook): BpfTarget {
  return { kind: 'link', name: `cgroup ${path} (${hook})` };
}

/**
 * Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a
 * hybrid host), from a mount table; undefined when it is not mounted.
 */
export function cgroupV2Mount(mounts = readFileSync('/proc/mounts', 'utf8')): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, dir, type] = line.split(' ');
    // Spaces and the like in a mount point are written as octal escapes (\040).
    if (type === 'cgroup2' && dir)
      return dir.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

/** Runs `fn` with an fd of the cgroup directory at `path`. */
function withCgroup<T>(path: string, fn: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

function query(fd: number, path: string, hook: CgroupHook): number[] {
  const lib = libbpf();
  const max = 64; // the kernel's BPF_CGROUP_MAX_PROGS: no hook of a cgroup holds more
  const ids = Buffer.alloc(4 * max);
  const count = [max];
  check(
    lib.bpf_prog_query(fd, CGROUP_ATTACH[hook], 0, [0], ids, count),
    'query',
    target(path, hook),
  );
  const out: number[] = [];
  for (let i = 0; i < (count[0] ?? 0) && i < max; i++) out.push(ids.readUInt32LE(i * 4));
  return out;
}

/** The ids of the programs attached to a cgroup's hook (its own, not its ancestors'). */
export function cgroupPrograms(path: string, hook: CgroupHook): number[] {
  return withCgroup(path, (fd) => query(fd, path, hook));
}

/**
 * Attaches a program (by fd) to a cgroup's hook beside whatever is there, and returns the id the
 * kernel gave the attachment's program. The kernel refuses (EINVAL) the same program twice at one
 * hook, and a program loaded for another hook (its SEC name decides, e.g. `cgroup/connect4`).
 */
export function cgroupAttach(path: string, hook: CgroupHook, progFd: number): number {
  return withCgroup(path, (fd) => {
    const before = new Set(query(fd, path, hook));
    check(
      libbpf().bpf_prog_attach(progFd, fd, CGROUP_ATTACH[hook], BPF_F_ALLOW_MULTI),
      'attach',
      target(path, hook),
    );
    const added = query(fd, path, hook).filter((id) => !before.has(id));
    if (added.length !== 1) {
      throw new Error(`cgroup ${path} (${hook}): cannot tell which program was attached`);
    }
    return added[0] as number;
  });
}

/**
 * Takes the program with this id off a cgroup's hook. Absent is fine, and so is a program or a
 * cgroup that is gone (a removed cgroup took its programs with it).
 */
export function cgroupDetach(path: string, hook: CgroupHook, progId: number): void {
  const lib = libbpf();
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    if (!query(fd, path, hook).includes(progId)) return;
    const prog = lib.bpf_prog_get_fd_by_id(progId);
    if (prog === -E.ENOENT) return;
    check(prog, 'open program', target(path, hook));
    try {
      const r = lib.bpf_prog_detach2(prog, fd, CGROUP_ATTACH[hook]);
      if (r === -E.ENOENT) return;
      check(r, 'detach', target(path, hook));
    } finally {
      lib.close(prog);
    }
  } finally {
    closeSync(fd);
  }
}

/** statfs f_type of a cgroup v2 mount. */
export const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Where cgroup v2 is mounted for `root`: itself, or `<root>/unified` on a hybrid host. */
export function resolveCgroupRoot(root: string): { root: string } | { problem: string } {
  const isV2 = (p: string): boolean => {
    try {
      return statfsSync(p).type === CGROUP2_SUPER_MAGIC;
    } catch {
      return false;
    }
  };
  if (isV2(root)) return { root };
  const unified = join(root, 'unified');
  if (isV2(unified)) return { root: unified };
  return { problem: `${root} is not a cgroup v2 mount (nor is ${unified}); set --cgroup-root` };
}
