import {
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  provide,
  token,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { EndpointManager } from '../endpoint/index.js';
import { newCgroups, type Cgroups as CgroupsApi } from './cgroups.js';
import { cgroupDump } from './metadata.js';

/** The pods' cgroups (available once the cgroup cell has started). */
export const Cgroups = token<CgroupsApi>('cgroup/Cgroups');

/** Pods' cgroup v2 ids and paths, found from endpoints' pids and container ids. */
export const cgroupCell = module(
  'cgroup',
  'Cgroup v2 ids and paths of the pods',
  // The cgroup v2 root (checked at start) and the bounded index of container cgroups.
  provide(
    Cgroups,
    { config: DaemonConfig, lifecycle: Lifecycle, health: Health, logger: Logger },
    newCgroups,
  ),
  invoke(
    'routes',
    { routes: ApiRoutes, cgroups: Cgroups, endpoints: EndpointManager },
    ({ routes, cgroups, endpoints }) => {
      routes.handle(
        'GetCgroupDumpMetadata',
        () => ({
          status: 200,
          body: cgroups.dump(() => cgroupDump(endpoints.list(), cgroups.finder())),
        }),
        'cgroup',
      );
    },
  ),
  // /debuginfo: where the cgroups are looked for and what the last walk found.
  invoke('status', { status: StatusContributors, cgroups: Cgroups }, ({ status, cgroups }) =>
    status.add({
      debug: (d) => {
        d.subsystem = { ...d.subsystem, cgroup: cgroups.describe() };
      },
    }),
  ),
);
