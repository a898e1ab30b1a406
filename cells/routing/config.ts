import { flag, token, type ConfigOf } from '../../core/hive/index.js';
import { findUp } from '../../core/paths.js';
import { normalizePrefix } from '../ipcache/index.js';

/** The routing modes (Cilium's --routing-mode). */
export const ROUTING_MODES = ['native', 'tunnel'] as const;

/** A routing mode. */
export type RoutingMode = (typeof ROUTING_MODES)[number];

/** The routing cell's flags, Cilium's names and defaults. */
export const routingFlags = {
  'routing-mode': flag.oneOf(
    ROUTING_MODES,
    'tunnel',
    "How pods reach other nodes' pods: tunnel (VXLAN, made when the first other node is known) or native (the host's routes)",
  ),
  'tunnel-protocol': {
    ...flag.string('vxlan', 'Encapsulation protocol in tunnel mode (vxlan)'),
    check: (v: string) =>
      v === 'vxlan'
        ? undefined
        : v === 'geneve'
          ? "'geneve': this agent supports vxlan only"
          : `'${v}': not a tunnel protocol (vxlan)`,
  },
  'tunnel-port': flag.int(8472, 'UDP port of the VXLAN device (tunnel mode)', {
    min: 1,
    max: 65535,
  }),
  'auto-direct-node-routes': flag.bool(
    false,
    "Native mode: a route to each other node's pod CIDR via that node's IP",
  ),
  'ipv4-native-routing-cidr': {
    ...flag.string(
      '',
      'Native mode: the IPv4 CIDR pod addresses come from (informational: this agent does not masquerade)',
    ),
    check: (v: string) =>
      v === '' || (normalizePrefix(v) !== undefined && !v.includes(':') && v.includes('/'))
        ? undefined
        : `'${v}': not an IPv4 CIDR`,
  },
  'bpf-overlay-object': flag.string(
    findUp('datapath-c/build/bpf_overlay.o') ?? '',
    'The compiled bpf_overlay object attached to cellium_vxlan in tunnel mode (built by npm run build)',
  ),
} as const;

/** The routing cell's configuration. */
export type RoutingConfig = ConfigOf<typeof routingFlags>;

/** The routing cell's configuration. */
export const RoutingConfig = token<RoutingConfig>('routing/RoutingConfig');

/** Why these flags cannot be used together (Cilium's validation), or undefined. */
export function routingConfigProblem(
  c: RoutingConfig,
): { flag: string; message: string } | undefined {
  if (c.autoDirectNodeRoutes && c.routingMode === 'tunnel') {
    return {
      flag: 'auto-direct-node-routes',
      message:
        'cannot be used with --routing-mode=tunnel: packets to other nodes go through the tunnel device (use --routing-mode=native)',
    };
  }
  return undefined;
}
