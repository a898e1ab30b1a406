import { DYNAMIC_MAPS, dynamicMapSize } from '../../core/bpf/index.js';
import { flag, token, type ConfigOf } from '../../core/hive/index.js';
import { findUp } from '../../core/paths.js';
import { MAGLEV_SIZES } from './maglev.js';
import { LB_MAP_MAX, MAGLEV_TABLE_SIZE, SOCK_REV_NAT_MAX } from './maps.js';

const mapMax = (what: string) =>
  flag.int(0, `Maximum number of ${what} (0: --bpf-lb-map-max)`, { min: 0, max: 16_777_216 });

/** The load balancer's flags (Cilium's names and defaults). */
export const lbFlags = {
  'bpf-lb-algorithm': flag.oneOf(
    ['random', 'maglev'],
    'random',
    'How a new flow picks a backend: a random active one, or Maglev consistent hashing of the flow',
  ),
  'bpf-lb-maglev-table-size': {
    ...flag.int(
      MAGLEV_TABLE_SIZE,
      `Entries of each service's Maglev table (a prime: ${MAGLEV_SIZES.join(', ')})`,
    ),
    check: (v: number): string | undefined =>
      (MAGLEV_SIZES as readonly number[]).includes(v)
        ? undefined
        : `${v} is not one of the Maglev table sizes ${MAGLEV_SIZES.join(', ')}`,
  },
  'bpf-lb-maglev-hash-seed': flag.string(
    'cellium-maglev',
    'Seed of the hashes that place backends in Maglev tables (the same on every node, so every node picks the same backend for a flow)',
  ),
  'bpf-lb-map-max': flag.int(LB_MAP_MAX, 'Maximum number of entries in each load-balancing map', {
    min: 1,
    max: 16_777_216,
  }),
  'bpf-lb-service-map-max': mapMax(
    'frontend entries and backend slots in cellium_lb{4,6}_services_v2',
  ),
  'bpf-lb-service-backend-map-max': mapMax('backends in cellium_lb{4,6}_backends_v3'),
  'bpf-lb-rev-nat-map-max': mapMax('reverse NAT entries (one per service id)'),
  'bpf-lb-affinity-map-max': mapMax('session affinity entries (clients × services)'),
  'bpf-lb-source-range-map-max': mapMax('loadBalancerSourceRanges CIDRs'),
  'bpf-lb-maglev-map-max': mapMax('services with a Maglev table'),
  'bpf-sock-rev-map-max': flag.int(
    SOCK_REV_NAT_MAX,
    'Maximum number of sockets whose service address recvmsg and getpeername give back (unset: from --bpf-map-dynamic-size-ratio)',
    { min: 1, max: 16_777_216 },
  ),
  'enable-session-affinity': flag.bool(true, "Honour services' sessionAffinity (ClientIP)"),
  'enable-svc-source-range-check': flag.bool(
    true,
    "Allow only a LoadBalancer service's loadBalancerSourceRanges to reach it from outside",
  ),
  'kube-proxy-replacement': flag.oneOf(
    ['true', 'false'],
    'false',
    'Replace kube-proxy: NodePort, ExternalIPs and HostPort on --devices and socket-level load balancing for host processes, unless turned off one by one',
  ),
  'enable-node-port': flag.bool(
    false,
    'Serve NodePort, LoadBalancer and ExternalIPs on --devices (on with --kube-proxy-replacement=true)',
  ),
  'bpf-lb-sock': flag.bool(
    false,
    "Translate host processes' connections to services at the socket (cgroup connect/sendmsg/recvmsg hooks on --cgroup-root; on with --kube-proxy-replacement=true)",
  ),
  'bpf-lb-external-clusterip': flag.bool(
    false,
    'Let ClusterIP services be reached from outside the node',
  ),
  'node-port-range': {
    ...flag.string('30000,32767', 'The NodePort range, MIN,MAX'),
    check: (v: string): string | undefined => {
      const m = /^(\d+),(\d+)$/.exec(v);
      const [lo, hi] = [Number(m?.[1]), Number(m?.[2])];
      return m && lo >= 1 && hi <= 65535 && lo <= hi
        ? undefined
        : `'${v}' is not MIN,MAX ports (e.g. 30000,32767)`;
    },
  },
  devices: flag.list(
    [],
    'Devices facing outside the node: bpf_host serves NodePort, LoadBalancer and ExternalIPs there, and their addresses are the NodePort addresses',
  ),
  'bpf-host-object': flag.string(
    findUp('datapath-c/build/bpf_host.o') ?? '',
    'The compiled bpf_host object attached to --devices (built by npm run build)',
  ),
  'bpf-sock-object': flag.string(
    findUp('datapath-c/build/bpf_sock.o') ?? '',
    'The compiled bpf_sock object attached to --cgroup-root (built by npm run build)',
  ),
} as const;

/** The load balancer's configuration. */
export type LbConfig = ConfigOf<typeof lbFlags>;

/** The load balancer's configuration. */
export const LbConfig = token<LbConfig>('loadbalancer/LbConfig');

/** What is turned on, once --kube-proxy-replacement is taken into account. */
export interface LbFeatures {
  readonly nodePort: boolean;
  readonly socketLb: boolean;
}

/** The features the flags turn on. */
export function lbFeatures(c: LbConfig): LbFeatures {
  const kpr = c.kubeProxyReplacement === 'true';
  return { nodePort: kpr || c.enableNodePort, socketLb: kpr || c.bpfLbSock };
}

/** The size each LB map gets from the flags. */
export function lbMapSizes(
  c: LbConfig,
  /** --bpf-map-dynamic-size-ratio. */
  ratio = 0,
): {
  services: number;
  backends: number;
  revNat: number;
  affinity: number;
  sourceRange: number;
  maglev: number;
  sockRevNat: number;
} {
  const or = (v: number): number => (v > 0 ? v : c.bpfLbMapMax);
  return {
    services: or(c.bpfLbServiceMapMax),
    backends: or(c.bpfLbServiceBackendMapMax),
    revNat: or(c.bpfLbRevNatMapMax),
    affinity: or(c.bpfLbAffinityMapMax),
    sourceRange: or(c.bpfLbSourceRangeMapMax),
    maglev: or(c.bpfLbMaglevMapMax),
    sockRevNat: dynamicMapSize(DYNAMIC_MAPS.sockRevNat, c.bpfSockRevMapMax, ratio),
  };
}

/** The NodePort range from --node-port-range. */
export function nodePortRange(c: LbConfig): { min: number; max: number } {
  const [min = 30000, max = 32767] = c.nodePortRange.split(',').map(Number);
  return { min, max };
}
