import { flag, token, type ConfigOf } from '../../core/hive/index.js';
import { CT_ANY_MAX, CT_TCP_MAX, NAT_MAX } from './maps.js';

/** The conntrack cell's flags (Cilium's names and defaults). */
export const ctFlags = {
  'bpf-ct-global-tcp-max': flag.int(
    CT_TCP_MAX,
    'Maximum number of TCP connections tracked (cellium_ct{4,6}_global; unset: from --bpf-map-dynamic-size-ratio)',
    { min: 1, max: 16_777_216 },
  ),
  'bpf-ct-global-any-max': flag.int(
    CT_ANY_MAX,
    'Maximum number of non-TCP flows tracked (cellium_ct_any{4,6}_global; unset: from --bpf-map-dynamic-size-ratio)',
    { min: 1, max: 16_777_216 },
  ),
  'bpf-nat-global-max': flag.int(
    NAT_MAX,
    'Maximum number of flows the node translates (cellium_snat_v{4,6}_external)',
    { min: 1, max: 16_777_216 },
  ),
  'conntrack-gc-interval': flag.duration(
    '0s',
    'Time between garbage collections of the connection tracking maps (0: adapts to how much each run deleted)',
  ),
  'conntrack-gc-max-interval': flag.duration(
    '12h',
    'Longest time between two garbage collections when the interval adapts',
    { min: '1s' },
  ),
} as const;

/** The conntrack cell's configuration. */
export type CtConfig = ConfigOf<typeof ctFlags>;

/** The conntrack cell's configuration. */
export const CtConfig = token<CtConfig>('conntrack/CtConfig');
