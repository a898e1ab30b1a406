import { flag, token, type ConfigOf } from '../../core/hive/index.js';
import { POLICY_MAP_MAX } from './maps.js';

/** The policymap cell's flags (Cilium's name and default). */
export const policyMapFlags = {
  'bpf-policy-map-max': flag.int(
    POLICY_MAP_MAX,
    'Maximum number of entries in each endpoint policy map (cellium_policy_<epid>)',
    { min: 16, max: 1_048_576 },
  ),
} as const;

/** The policymap cell's configuration. */
export type PolicyMapConfig = ConfigOf<typeof policyMapFlags>;

/** The policymap cell's configuration. */
export const PolicyMapConfig = token<PolicyMapConfig>('policymap/PolicyMapConfig');
