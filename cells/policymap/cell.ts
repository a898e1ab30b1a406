import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { StatusContributors } from '../daemon/index.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { PolicyMapConfig, policyMapFlags } from './config.js';
import { DropEvents, newDropEvents } from './drops.js';
import { formatDrop } from './format.js';
import { newPolicyMaps, PolicyMaps } from './policymaps.js';

/** The policy maps bpf_lxc enforces, and the drops it reports. */
export const policyMapCell = module(
  'policymap',
  'Endpoint policy maps and the datapath events ring',
  // --bpf-policy-map-max
  config(PolicyMapConfig, policyMapFlags),
  // cellium_policy (ifindex -> the endpoint's map), cellium_policy_<epid>, cellium_events.
  provide(
    PolicyMaps,
    {
      config: PolicyMapConfig,
      maps: DatapathMaps,
      registry: Maps,
      lifecycle: Lifecycle,
      logger: Logger,
      health: Health,
    },
    ({ config: c, ...p }) => newPolicyMaps({ ...p, maxEntries: c.bpfPolicyMapMax }),
  ),
  // A timer job reading cellium_events: drops by policy, kept and offered to subscribers.
  provide(
    DropEvents,
    { maps: PolicyMaps, jobs: Jobs, lifecycle: Lifecycle, logger: Logger },
    newDropEvents,
  ),
  // /debuginfo: the last drops.
  invoke('status', { status: StatusContributors, drops: DropEvents }, ({ status, drops }) => {
    status.add({
      debug: (d) => {
        const last = drops.recent().slice(-50).map(formatDrop);
        d.subsystem = { ...d.subsystem, 'policy-drops': last.join('\n') };
      },
    });
  }),
);
