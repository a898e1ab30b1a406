import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The IPAM cell's flags (names as Cilium's). */
export const ipamFlags = {
  ipam: flag.oneOf(
    ['cluster-pool', 'kubernetes'],
    'cluster-pool',
    "IPAM mode: cluster-pool (this node's pod CIDRs from --ipv4-range/--ipv6-range) or kubernetes (its Node object's spec.podCIDRs; Kubernetes mode only)",
  ),
  'enable-ipv4': flag.bool(true, 'Give endpoints IPv4 addresses'),
  'enable-ipv6': flag.bool(false, 'Give endpoints IPv6 addresses'),
  'ipv4-range': flag.cidr('10.200.0.0/24', "This node's IPv4 pod CIDR", { family: 'ipv4' }),
  'ipv6-range': flag.cidr('fd00:10:200::/112', "This node's IPv6 pod CIDR", { family: 'ipv6' }),
  'ipam-expiration': flag.duration(
    '10m',
    'How long an IP allocated with expiration stays reserved unless an endpoint confirms it',
    { min: '1ms' },
  ),
} as const;

/** The IPAM cell's configuration. */
export type IpamConfig = ConfigOf<typeof ipamFlags>;

/** The IPAM cell's configuration. */
export const IpamConfig = token<IpamConfig>('ipam/IpamConfig');
