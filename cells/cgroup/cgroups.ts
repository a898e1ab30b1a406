import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import { resolveCgroupRoot } from '../../core/bpf/index.js';
import { CgroupFinder, DEFAULT_LIMITS, type FinderLimits } from './finder.js';

/** Where cgroup v2 is usually mounted (--cgroup-root's default). */
export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

/** What the cgroup cell needs. */
export interface CgroupsParams {
  /** --cgroup-root. */
  readonly config: { readonly cgroupRoot: string };
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
  readonly limits?: FinderLimits;
}

/** The cgroup v2 tree the agent looks in, once started. */
export interface Cgroups {
  /** The finder over the cgroup v2 root; undefined when there is none (health says why). */
  finder(): CgroupFinder | undefined;
  /** Runs a lookup and reports in health what the index walk found, if it ran. */
  dump<T>(fn: () => T): T;
  /** One paragraph for /debuginfo's subsystems. */
  describe(): string;
}

/** Checks the cgroup root at start; lookups before start or without cgroup v2 find nothing. */
export function newCgroups(p: CgroupsParams): Cgroups {
  let finder: CgroupFinder | undefined;
  let problem: string | undefined = 'not started';
  let reported: number | undefined;
  const report = (): void => {
    if (!finder) return;
    const s = finder.indexState;
    if (!s) {
      p.health.ok(`cgroup v2 at ${finder.root}; no lookup yet`);
      return;
    }
    if (reported === s.at) return;
    reported = s.at;
    const what = `cgroup v2 at ${finder.root}; last walk: ${s.containers} container cgroups in ${s.dirs} directories`;
    if (s.truncated) {
      p.health.degraded(
        `${what}, stopped at ${s.dirs} directories: containers beyond them are not found`,
      );
    } else p.health.ok(what);
  };
  p.lifecycle.append(
    {
      onStart: () => {
        const r = resolveCgroupRoot(p.config.cgroupRoot);
        if ('problem' in r) {
          problem = r.problem;
          p.logger.warn(`${r.problem}: pods are listed without their cgroups`);
          // A host without cgroup v2 is not a fault of the agent; a root set by hand that is
          // not cgroup v2 is a mistake to fix.
          if (p.config.cgroupRoot === DEFAULT_CGROUP_ROOT) {
            p.health.ok(`${r.problem}: pods are listed without their cgroups`);
          } else p.health.degraded(r.problem);
          return;
        }
        problem = undefined;
        finder = new CgroupFinder(r.root, p.limits ?? DEFAULT_LIMITS);
        report();
      },
      onStop: () => {
        finder = undefined;
        problem = 'stopped';
      },
    },
    'cgroup-root',
  );
  return {
    finder: () => finder,
    dump(fn) {
      const out = fn();
      report();
      return out;
    },
    describe() {
      if (!finder) return `no cgroup v2 tree: ${problem ?? 'unknown'}`;
      const s = finder.indexState;
      const walk = s
        ? `last walk ${new Date(s.at).toISOString()}: ${s.containers} container cgroups in ${s.dirs} directories${s.truncated ? ' (stopped at the bound)' : ''}`
        : 'not walked yet';
      return `cgroup v2 root ${finder.root} (--cgroup-root ${p.config.cgroupRoot}); ${walk}`;
    },
  };
}
