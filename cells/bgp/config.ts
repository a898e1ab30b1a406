import { isIPv4 } from 'node:net';
import { flag, token, type ConfigOf, type FlagSpec } from '../../core/hive/index.js';

function routerIdFlag(): FlagSpec<string> {
  return {
    ...flag.string('', "BGP identifier (a dotted quad); '' takes --ipv4-node"),
    // 0.0.0.0 is not a valid BGP identifier (RFC 6286 §2.1: non-zero).
    check: (v) =>
      v === '' || (isIPv4(v) && v !== '0.0.0.0')
        ? undefined
        : `'${v}' is not a BGP router id (a non-zero dotted quad like 10.0.0.1)`,
  };
}

/** The bgp cell's flags (Cilium's --enable-bgp-control-plane; the rest Cellium's). */
export const bgpFlags = {
  'enable-bgp-control-plane': flag.bool(
    false,
    'Run the BGP control plane: advertise pod CIDRs and selected service addresses to the peers of --bgp-config',
  ),
  'bgp-config': flag.string(
    '',
    'A file of CiliumBGPPeeringPolicy objects (YAML or JSON), watched: a change is applied without restart',
  ),
  'bgp-router-id': routerIdFlag(),
  'bgp-listen-port': flag.int(
    179,
    'TCP port BGP peers connect to (0: no listener, this node only connects out)',
    { min: 0, max: 65535 },
  ),
} as const;

/** The bgp cell's configuration. */
export type BgpConfig = ConfigOf<typeof bgpFlags>;

/** The bgp cell's configuration. */
export const BgpConfig = token<BgpConfig>('bgp/BgpConfig');
