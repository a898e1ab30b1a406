// Every map the agent owns, declared once. The layouts mirror datapath-c/include/cellium/maps.h;
// layout.test.ts checks them against the BTF of the compiled objects.
import {
  BPF_F_NO_PREALLOC,
  FAMILY_IPV4,
  FAMILY_IPV6,
  mapSpec,
  MapType,
  perCpuMapSpec,
  struct,
} from '../../core/bpf/index.js';

/** cellium_lxc key: a local endpoint's IP. */
export interface EndpointKey {
  readonly ip: string;
  readonly family: number;
  readonly key: number;
  readonly cluster_id: number;
}

/** cellium_lxc value: the endpoint behind an IP. */
export interface EndpointInfo {
  readonly ifindex: number;
  readonly lxc_id: number;
  readonly flags: number;
  readonly mac: string;
  readonly node_mac: string;
  readonly sec_id: number;
}

/** cellium_ipcache key: a prefix (prefixlen counts 32 bits before the address). */
export interface IpcacheKey {
  readonly prefixlen: number;
  readonly cluster_id: number;
  readonly family: number;
  readonly ip: string;
}

/** cellium_ipcache value: the identity of a prefix. */
export interface RemoteEndpointInfo {
  readonly sec_identity: number;
  readonly tunnel_endpoint: string;
  readonly node_id: number;
  readonly key: number;
  readonly flags: number;
}

/** cellium_metrics key. */
export interface MetricsKey {
  readonly reason: number;
  readonly dir: number;
}

/** cellium_metrics value (one per CPU). */
export interface MetricsValue {
  readonly count: bigint;
  readonly bytes: bigint;
}

export const endpointKey = struct<EndpointKey>('endpoint_key', [
  ['ip', 'ip16'],
  ['family', 'u8'],
  ['key', 'u8'],
  ['cluster_id', 'u16'],
]);

export const endpointInfo = struct<EndpointInfo>('endpoint_info', [
  ['ifindex', 'u32'],
  ['unused', { pad: 2 }],
  ['lxc_id', 'u16'],
  ['flags', 'u32'],
  ['pad', { pad: 4 }],
  ['mac', 'mac64'],
  ['node_mac', 'mac64'],
  ['sec_id', 'u32'],
  ['pad2', { pad: 12 }],
]);

export const ipcacheKey = struct<IpcacheKey>('ipcache_key', [
  ['prefixlen', 'u32'],
  ['pad1', { pad: 2 }],
  ['cluster_id', 'u8'],
  ['family', 'u8'],
  ['ip', 'ip16'],
]);

export const remoteEndpointInfo = struct<RemoteEndpointInfo>('remote_endpoint_info', [
  ['sec_identity', 'u32'],
  ['tunnel_endpoint', 'ipv4'],
  ['node_id', 'u16'],
  ['key', 'u8'],
  ['flags', 'u8'],
]);

export const metricsKey = struct<MetricsKey>('metrics_key', [
  ['reason', 'u8'],
  ['dir', 'u8'],
  ['reserved', { pad: 6 }],
]);

export const metricsValue = struct<MetricsValue>('metrics_value', [
  ['count', 'u64'],
  ['bytes', 'u64'],
]);

/** Local endpoint IP → endpoint. */
export const LXC_MAP = mapSpec({
  name: 'cellium_lxc',
  type: MapType.Hash,
  key: endpointKey,
  value: endpointInfo,
  maxEntries: 65535,
});

/** IP/CIDR → security identity (longest prefix match). */
export const IPCACHE_MAP = mapSpec({
  name: 'cellium_ipcache',
  type: MapType.LpmTrie,
  key: ipcacheKey,
  value: remoteEndpointInfo,
  maxEntries: 512000,
  flags: BPF_F_NO_PREALLOC,
});

/** Packets and bytes by reason and direction, per CPU. */
export const METRICS_MAP = perCpuMapSpec({
  name: 'cellium_metrics',
  type: MapType.PerCpuHash,
  key: metricsKey,
  value: metricsValue,
  maxEntries: 1024,
});

/** Every map the maps cell opens at start. */
export const AGENT_MAPS = [LXC_MAP, IPCACHE_MAP, METRICS_MAP] as const;

/** Metric directions and reasons (datapath-c/include/cellium/maps.h). */
export const METRIC = { INGRESS: 1, EGRESS: 2, SERVICE: 3 } as const;
export const REASON = {
  FORWARDED: 0,
  NOT_IP: 1,
  TUNNELED: 2,
  LB_NO_BACKEND_SLOT: 5,
  LB_NO_BACKEND: 6,
  LB_REVNAT_STALE: 8,
  LB_TRANSLATED: 16,
  LB_REVNAT: 17,
  INVALID: 130,
  INVALID_SOURCE: 132,
  POLICY_DENIED: 133,
  FRAG_NEEDED: 136,
  UNKNOWN_L3: 139,
  NAT_WRITE_ERROR: 141,
  NO_TUNNEL_KEY: 147,
  CT_CREATE_FAILED: 155,
  NO_SERVICE: 158,
  NAT_NO_MAPPING: 167,
  NO_FIB: 169,
  IS_CLUSTER_IP: 174,
  NOT_IN_SRC_RANGE: 177,
  POLICY_DENY: 181,
  TTL_EXCEEDED: 196,
  PREFILTER_DENIED: 240,
} as const;

/** Reasons at or above this are drops (as Cilium's DROP_* codes); below, a packet went on. */
export const DROP_MIN = 130;

/**
 * Drop reasons' texts, Cilium's (pkg/monitor/api/drop.go `errors`, by the same number), for the
 * monitor's events and the drop metrics' `reason` label alike. Two are this agent's own: 130 is
 * its malformed-frame drop, which Cilium numbers 134 ("Invalid packet"); 240 (the prefilter)
 * has no number in Cilium.
 */
export const DROP_REASON_TEXT: Readonly<Record<number, string>> = {
  [REASON.INVALID]: 'Invalid packet',
  [REASON.INVALID_SOURCE]: 'Invalid source ip',
  [REASON.POLICY_DENIED]: 'Policy denied',
  [REASON.FRAG_NEEDED]: 'Fragmentation needed',
  [REASON.UNKNOWN_L3]: 'Unsupported L3 protocol',
  [REASON.NAT_WRITE_ERROR]: 'Error writing to packet',
  [REASON.NO_TUNNEL_KEY]: 'Error retrieving tunnel key',
  [REASON.CT_CREATE_FAILED]: 'CT: Map insertion failed',
  [REASON.NO_SERVICE]: 'Service backend not found',
  [REASON.NAT_NO_MAPPING]: 'No mapping for NAT masquerade',
  [REASON.NO_FIB]: 'FIB lookup failed',
  [REASON.IS_CLUSTER_IP]: 'Is a ClusterIP',
  [REASON.NOT_IN_SRC_RANGE]: 'Denied by LB src range check',
  [REASON.POLICY_DENY]: 'Policy denied by denylist',
  [REASON.TTL_EXCEEDED]: 'TTL exceeded',
  [REASON.PREFILTER_DENIED]: 'Denied by prefilter',
};

/** A drop reason's text ("reason N" for one this agent does not know). */
export function dropReasonText(reason: number): string {
  return DROP_REASON_TEXT[reason] ?? `reason ${reason}`;
}

/** Metric directions as Cilium's metrics label them. */
export const DIRECTION_TEXT: Readonly<Record<number, string>> = {
  [METRIC.INGRESS]: 'INGRESS',
  [METRIC.EGRESS]: 'EGRESS',
  [METRIC.SERVICE]: 'SERVICE',
};

/** The ipcache key of a CIDR (or a single IP, as /32 or /128). */
export function ipcacheKeyOf(cidr: string): IpcacheKey {
  const [ip = '', len] = cidr.split('/');
  const v6 = ip.includes(':');
  const bits = len === undefined ? (v6 ? 128 : 32) : Number(len);
  return { prefixlen: 32 + bits, cluster_id: 0, family: v6 ? FAMILY_IPV6 : FAMILY_IPV4, ip };
}

/** endpoint_info.flags: the host's own entry; an endpoint bpf_lxc must never run unenforced. */
export const ENDPOINT_F = { HOST: 1, POLICY: 2 } as const;

/** The lxc key of an endpoint IP. */
export function endpointKeyOf(ip: string): EndpointKey {
  return { ip, family: ip.includes(':') ? FAMILY_IPV6 : FAMILY_IPV4, key: 0, cluster_id: 0 };
}

/**
 * The cellium_lxc value of an endpoint; what regeneration writes and the map's cache shows.
 * (cells/endpoint/datapath.ts builds the same value; the maps cache test checks they agree.)
 */
export function endpointInfoOf(
  ep: {
    readonly id: number;
    readonly ifIndex: number;
    readonly mac: string;
    readonly hostMac: string;
    readonly identity: number;
  },
  flags = 0,
): EndpointInfo {
  return {
    ifindex: ep.ifIndex,
    lxc_id: ep.id,
    flags,
    mac: ep.mac || '00:00:00:00:00:00',
    node_mac: ep.hostMac || '00:00:00:00:00:00',
    sec_id: ep.identity,
  };
}

/**
 * The cellium_ipcache value of a prefix: its identity, and the node it lives on as the tunnel
 * endpoint (IPv4 only; 0.0.0.0 when local). cells/ipcache/ops.ts builds the same value.
 */
export function remoteEndpointInfoOf(e: {
  readonly identity: number;
  readonly hostIP: string;
  readonly encryptKey: number;
}): RemoteEndpointInfo {
  const tunnel = e.hostIP !== '' && !e.hostIP.includes(':') ? e.hostIP : '0.0.0.0';
  return {
    sec_identity: e.identity,
    tunnel_endpoint: tunnel,
    node_id: 0,
    key: e.encryptKey,
    flags: 0,
  };
}
