import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, rmSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { cgroupV2Mount, ensureBpffs, probeKernel } from '../bpf/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The compiled bpf_lxc object the kernel suites load. `CELLIUM_BPF_LXC_OBJECT` (the agent's
 * own variable for `--bpf-lxc-object`, which the agents these suites start inherit) overrides it.
 */
export const BPF_LXC_OBJECT =
  process.env.CELLIUM_BPF_LXC_OBJECT || join(ROOT, 'datapath-c', 'build', 'bpf_lxc.o');

/** The compiled bpf_host object (`CELLIUM_BPF_HOST_OBJECT`, `--bpf-host-object`'s variable). */
export const BPF_HOST_OBJECT =
  process.env.CELLIUM_BPF_HOST_OBJECT || join(ROOT, 'datapath-c', 'build', 'bpf_host.o');

/** The compiled bpf_overlay object (`CELLIUM_BPF_OVERLAY_OBJECT`, `--bpf-overlay-object`'s variable). */
export const BPF_OVERLAY_OBJECT =
  process.env.CELLIUM_BPF_OVERLAY_OBJECT || join(ROOT, 'datapath-c', 'build', 'bpf_overlay.o');

/** What a privileged suite needs beyond root, bpffs and bpf() (which are implied). */
export interface KernelNeeds {
  /** Files the suite loads, such as BPF_LXC_OBJECT. */
  readonly objects?: readonly string[];
  /** Programs the suite runs, looked up on PATH. */
  readonly commands?: readonly string[];
  /** false for a suite that only reads files (an object's BTF): no root, bpffs or bpf(). */
  readonly root?: boolean;
  /** A cgroup v2 mount (socket LB attaches to cgroups). */
  readonly cgroup2?: boolean;
}

/** Whether a suite runs; if not, the missing prerequisite, why, and whether that fails it. */
export type KernelVerdict =
  | { readonly run: true }
  | {
      readonly run: false;
      /** Under CI a missing prerequisite is a failure, not a skip. */
      readonly fail: boolean;
      readonly missing: string;
      readonly reason: string;
    };

/** What the verdict depends on, injectable so the rule itself is tested. */
export interface KernelHost {
  readonly root: boolean;
  readonly ci: boolean;
  /** Mounts or finds bpffs; the error message when that is impossible. */
  bpffs(): string | undefined;
  /** Whether bpf() works; the reason when it does not. */
  bpf(): string | undefined;
  exists(path: string): boolean;
  onPath(command: string): boolean;
  /** Whether a cgroup v2 hierarchy is mounted. */
  cgroup2(): boolean;
}

// The Debian package to name when a command is missing (scripts/lib.sh installs them as root).
const PACKAGE_OF: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  tc: 'iproute2',
  ping: 'iputils-ping',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  setpriv: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  strace: 'strace',
  etcd: 'etcd-server',
  gobgp: 'gobgpd',
  bird: 'bird2',
  birdc: 'bird2',
};

/** This process and machine as the verdict sees them. */
export function hostKernel(): KernelHost {
  return {
    root: process.getuid?.() === 0,
    ci: process.env.CI === 'true',
    bpffs: () => {
      try {
        ensureBpffs('/sys/fs/bpf');
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
    bpf: () => {
      const p = probeKernel();
      return p.ok ? undefined : p.reason;
    },
    exists: existsSync,
    cgroup2: () => cgroupV2Mount() !== undefined,
    onPath: (command) =>
      (process.env.PATH ?? '').split(delimiter).some((dir) => {
        try {
          accessSync(join(dir, command), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  };
}

/**
 * Whether a privileged suite can run here. Not root: skip. Root (or a suite that needs no root)
 * with a prerequisite missing: skip with the reason, except under CI (`CI=true`), where the
 * suite must run, so it fails instead of going green by skipping.
 */
export function kernelPrereqs(needs: KernelNeeds = {}, host = hostKernel()): KernelVerdict {
  const root = needs.root ?? true;
  const missing = (what: string, reason: string): KernelVerdict => ({
    run: false,
    fail: host.ci,
    missing: what,
    reason,
  });
  if (root && !host.root) return { run: false, fail: false, missing: 'root', reason: 'not root' };
  if (root) {
    const bpffs = host.bpffs();
    if (bpffs !== undefined) return missing('bpffs', bpffs);
    const bpf = host.bpf();
    if (bpf !== undefined) return missing('bpf()', bpf);
  }
  for (const o of needs.objects ?? []) {
    if (host.exists(o)) continue;
    const name = relative(ROOT, o).startsWith('..') ? o : relative(ROOT, o);
    return missing(name, `${name} not built (npm run build; it needs clang)`);
  }
  for (const c of needs.commands ?? []) {
    if (host.onPath(c)) continue;
    return missing(c, `${c} not found on PATH (apt-get install ${PACKAGE_OF[c] ?? c})`);
  }
  if (needs.cgroup2 && !host.cgroup2())
    return missing('cgroup v2', 'no cgroup2 mount in /proc/mounts');
  return { run: true };
}

/**
 * Where a verdict fails (under CI), registers one failing test named after the missing
 * prerequisite and its reason; otherwise nothing.
 */
export function failOnMissing(v: KernelVerdict): void {
  if (v.run || !v.fail) return;
  const what = v.reason.startsWith(v.missing) ? v.reason : `${v.missing}: ${v.reason}`;
  it(`missing prerequisite ${what}`, () => {
    throw new Error(`${v.reason} — CI=true: kernel tests must run here, not skip`);
  });
}

/**
 * `describe` for a privileged suite: runs it, skips it with `(skipped: <reason>)` in its title
 * (which scripts/test.sh prints), or, under CI with a prerequisite missing, fails it.
 */
export function kernelSuite(title: string, needs: KernelNeeds, body: () => void): void {
  const v = kernelPrereqs(needs);
  if (v.run) describe(title, body);
  else if (v.fail) describe(title, () => failOnMissing(v));
  else describe.skip(`${title} (skipped: ${v.reason})`, body);
}

/** Whether privileged tests can run here, and if not, the one-line reason (prefer kernelSuite). */
export function kernelTests(): { readonly ok: boolean; readonly reason: string } {
  const v = kernelPrereqs();
  return v.run ? { ok: true, reason: '' } : { ok: false, reason: v.reason };
}

/** A test's own pin directory on bpffs, removed by the returned cleanup. */
export function testPinDir(): { readonly dir: string; readonly cleanup: () => void } {
  const dir = join('/sys/fs/bpf', `cellium-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
