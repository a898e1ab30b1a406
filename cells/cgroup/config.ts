import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** Where cgroup v2 is usually mounted. */
export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

/** The cgroup cell's flags (Cilium's name). */
export const cgroupFlags = {
  'cgroup-root': flag.string(
    DEFAULT_CGROUP_ROOT,
    "Where cgroup v2 is mounted (a hybrid host's <root>/unified is used when <root> is not cgroup v2)",
  ),
} as const;

/** The cgroup cell's configuration. */
export type CgroupConfig = ConfigOf<typeof cgroupFlags>;

/** The cgroup cell's configuration. */
export const CgroupConfig = token<CgroupConfig>('cgroup/CgroupConfig');
