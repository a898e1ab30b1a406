import { config, Health, Lifecycle, Logger, module, provide } from '../../core/hive/index.js';
import { DatapathMaps, Maps } from '../maps/index.js';
import { PolicyMapConfig, policyMapFlags } from './config.js';
import { newPolicyMaps, PolicyMaps } from './policymaps.js';

/** The policy maps bpf_lxc enforces. */
export const policyMapCell = module(
  'policymap',
  'Endpoint policy maps',
  // --bpf-policy-map-max
  config(PolicyMapConfig, policyMapFlags),
  // cellium_policy (ifindex -> the endpoint's map), cellium_policy_<epid>.
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
);
