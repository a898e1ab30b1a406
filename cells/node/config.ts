import { isIPv4 } from 'node:net';
import { isIPv6Address } from '../../core/ip.js';
import { flag, token, type ConfigOf, type FlagSpec } from '../../core/hive/index.js';

function nodeIpFlag(family: 4 | 6, description: string): FlagSpec<string> {
  return {
    ...flag.string('auto', description),
    check: (v) =>
      v === 'auto' || v === '' || (family === 4 ? isIPv4(v) : isIPv6Address(v))
        ? undefined
        : `'${v}' is not an IPv${family} address (or 'auto', or '' for none)`,
  };
}

/** The node cell's flags (Cilium's names). */
export const nodeFlags = {
  'bpf-node-map-max': flag.int(16384, 'Maximum number of node IPs in cellium_node_map', {
    min: 1,
    max: 16_777_216,
  }),
  'ipv4-node': nodeIpFlag(
    4,
    "IPv4 address of this node: 'auto' takes the first global IPv4 address of an up device, '' none",
  ),
  'ipv6-node': nodeIpFlag(
    6,
    "IPv6 address of this node: 'auto' takes the first global IPv6 address of an up device, '' none",
  ),
  'nodes-file': flag.string(
    '',
    'A JSON or YAML list of other nodes ({name, ipv4, ipv6, pod-cidrs, health-ipv4, health-ipv6}), re-read when it changes; for embedded mode without a kvstore',
  ),
  'annotate-k8s-node': flag.bool(
    false,
    "Kubernetes mode: annotate this node's Node object (network.cilium.io/ pod CIDRs, health and cilium_host IPs) once the agent is ready",
  ),
  'remove-cilium-node-taints': flag.bool(
    true,
    'Kubernetes mode: remove the node.cilium.io/agent-not-ready taint from this node once the agent is ready',
  ),
} as const;

/** The node cell's configuration. */
export type NodeConfig = ConfigOf<typeof nodeFlags>;

/** The node cell's configuration. */
export const NodeConfig = token<NodeConfig>('node/NodeConfig');
