import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A cgroup found for a container or process. */
export interface CgroupRef {
  /** The cgroup id: the cgroup directory's inode number (what bpf_get_current_cgroup_id returns). */
  readonly id: number;
  /** The cgroup's directory, absolute. */
  readonly path: string;
}

/** Bounds of the index walk and how often it may run. */
export interface FinderLimits {
  /** Directories below the root the walk descends (kubepods.slice/…/pod.slice/cri-….scope is 4). */
  readonly maxDepth: number;
  /** Directories the walk visits at most; beyond that the index is incomplete (health says so). */
  readonly maxDirs: number;
  /** A walk runs at most this often, however many lookups miss. */
  readonly rescanMs: number;
}

/** Default bounds: deep enough for systemd and cgroupfs kubelet layouts, cheap enough to run often. */
export const DEFAULT_LIMITS: FinderLimits = { maxDepth: 10, maxDirs: 50_000, rescanMs: 1_000 };

/**
 * Container runtimes' cgroup directory names, the container id in group 1: containerd, CRI-O,
 * docker and podman under the systemd driver (`<runtime>-<id>.scope`), CRI-O under cgroupfs
 * (`crio-<id>`), containerd and docker under cgroupfs (`<id>`). `crio-conmon-<id>.scope` is the
 * monitor, not the container, and does not match.
 */
const CONTAINER_DIR = [
  /^(?:cri-containerd|crio|docker|libpod)-([0-9a-f]{12,64})\.scope$/,
  /^crio-([0-9a-f]{64})$/,
  /^([0-9a-f]{64})$/,
];

/** The container id a cgroup directory is named after, if any. */
export function containerIdOf(dirName: string): string | undefined {
  for (const re of CONTAINER_DIR) {
    const m = re.exec(dirName);
    if (m) return m[1];
  }
  return undefined;
}

/** The cgroup v2 path of a process from /proc/<pid>/cgroup (`0::/path`), if it has one. */
export function parseProcCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith('0::')) continue;
    const path = line.slice(3).replace(/ \(deleted\)$/, '');
    return path.startsWith('/') ? path : undefined;
  }
  return undefined;
}

function cgroupAt(path: string): CgroupRef | undefined {
  try {
    const st = statSync(path, { bigint: true });
    if (!st.isDirectory()) return undefined;
    // cgroupfs inode numbers are kernfs ids: far below 2^53 unless 2^21 generations wrapped.
    return { id: Number(st.ino), path };
  } catch {
    return undefined;
  }
}

/** The last walk of the tree: what it found and whether it saw all of it. */
export interface IndexState {
  readonly containers: number;
  readonly dirs: number;
  readonly truncated: boolean;
  readonly at: number;
}

/**
 * Finds the cgroups of processes (from /proc, no walk) and of containers (from an index of the
 * tree's container-named directories). The index is built by one bounded walk and rebuilt only
 * when a lookup misses and the last walk is older than `rescanMs`: a request for many endpoints
 * costs at most one walk, and a stream of requests at most one walk per `rescanMs`. Entries are
 * checked with a stat before use, so a removed cgroup is never reported.
 */
export class CgroupFinder {
  private index = new Map<string, string>();
  private last: IndexState | undefined;

  constructor(
    readonly root: string,
    private readonly limits: FinderLimits = DEFAULT_LIMITS,
    private readonly proc = '/proc',
    private readonly now: () => number = Date.now,
  ) {}

  /** The last walk, if any. */
  get indexState(): IndexState | undefined {
    return this.last;
  }

  /** The cgroup of a running process, or undefined (no such process, or not in cgroup v2). */
  byPid(pid: number): CgroupRef | undefined {
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    let text: string;
    try {
      text = readFileSync(join(this.proc, String(pid), 'cgroup'), 'utf8');
    } catch {
      return undefined;
    }
    const rel = parseProcCgroup(text);
    return rel === undefined ? undefined : cgroupAt(join(this.root, rel));
  }

  /** The cgroups of containers by id (lowercase hex); misses are absent from the result. */
  byContainers(ids: readonly string[]): Map<string, CgroupRef> {
    const out = new Map<string, CgroupRef>();
    const lookup = (): string[] => {
      const missed: string[] = [];
      for (const id of ids) {
        const path = this.index.get(id.toLowerCase());
        const ref = path === undefined ? undefined : cgroupAt(path);
        if (ref) out.set(id, ref);
        else missed.push(id);
      }
      return missed;
    };
    const missed = lookup();
    if (missed.length > 0 && (!this.last || this.now() - this.last.at >= this.limits.rescanMs)) {
      this.rescan();
      lookup();
    }
    return out;
  }

  /** Walks the tree once (bounded) and replaces the index. */
  rescan(): IndexState {
    const index = new Map<string, string>();
    let dirs = 0;
    let truncated = false;
    const stack: [string, number][] = [[this.root, 0]];
    while (stack.length > 0) {
      const [dir, depth] = stack.pop() as [string, number];
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue; // removed meanwhile, or unreadable: not a container we can report
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (++dirs > this.limits.maxDirs) {
          truncated = true;
          break;
        }
        const path = join(dir, e.name);
        const id = containerIdOf(e.name);
        if (id !== undefined) index.set(id, path);
        if (depth + 1 < this.limits.maxDepth) stack.push([path, depth + 1]);
      }
      if (dirs > this.limits.maxDirs) break;
    }
    this.index = index;
    this.last = {
      containers: index.size,
      dirs: Math.min(dirs, this.limits.maxDirs),
      truncated,
      at: this.now(),
    };
    return this.last;
  }
}
