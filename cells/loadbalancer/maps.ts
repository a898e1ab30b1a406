// The load balancer's maps, declared once. The layouts mirror datapath-c/include/cellium/lb.h
// (Cilium's lb4_/lb6_ maps); layout.test.ts checks them against the BTF of bpf_lxc.o.
import { BPF_F_NO_PREALLOC, mapSpec, MapType, struct, type MapSpec } from '../../core/bpf/index.js';

/** A services map key: a frontend's master entry (slot 0) or one of its backend slots. */
export interface LbKey {
  readonly address: string;
  readonly dport: number;
  readonly backend_slot: number;
  readonly proto: number;
  readonly scope: number;
}

/** A services map value: a slot's backend, or the master's count, flags and affinity. */
export interface LbService {
  readonly backend_id: number;
  readonly count: number;
  readonly rev_nat_index: number;
  readonly flags: number;
  readonly flags2: number;
  readonly qcount: number;
}

/** A backends map key. */
export interface LbBackendKey {
  readonly backend_id: number;
}

/** A backends map value: where a backend is and its state (BE_STATE). */
export interface LbBackend {
  readonly address: string;
  readonly port: number;
  readonly proto: number;
  readonly flags: number;
  readonly cluster_id: number;
}

/** A reverse NAT map key: the service id. */
export interface LbRevNatKey {
  readonly rev_nat_index: number;
}

/** A reverse NAT value: the frontend replies seem to come from. */
export interface LbRevNat {
  readonly address: string;
  readonly port: number;
}

/** An affinity map key (the datapath writes these). */
export interface LbAffinityKey {
  readonly client_id: Buffer;
  readonly rev_nat_id: number;
  readonly netns_cookie: number;
}

/** An affinity map value. */
export interface LbAffinityVal {
  readonly last_used: bigint;
  readonly backend_id: number;
}

/** An affinity match key: a backend affinity may still pick for a service. */
export interface LbAffinityMatch {
  readonly backend_id: number;
  readonly rev_nat_id: number;
}

/** The value of key-only maps. */
export type LbPresent = Record<string, never>;

/** A source range key: prefixlen counts the 32 bits of rev_nat_id and pad before the address. */
export interface LbSrcRangeKey {
  readonly prefixlen: number;
  readonly rev_nat_id: number;
  readonly addr: string;
}

/** A Maglev map key: the service id. */
export interface LbMaglevKey {
  readonly rev_nat_id: number;
}

/** A map-of-maps value as read back: the inner map's kernel id. */
export interface LbMapId {
  readonly id: number;
}

/** A socket reverse NAT key (the datapath writes these). */
export interface LbSockTuple {
  readonly cookie: bigint;
  readonly address: string;
  readonly port: number;
}

/** A socket reverse NAT value. */
export interface LbSockEntry {
  readonly address: string;
  readonly port: number;
  readonly rev_nat_index: number;
}

/** The programs' configuration (an array of one). */
export interface LbProgConfig {
  readonly maglev_lut_size: number;
}

/** An array map's u32 index. */
export interface LbIndex {
  readonly index: number;
}

const lbKey = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<LbKey>(cName, [
    ['address', ip],
    ['dport', 'be16'],
    ['backend_slot', 'u16'],
    ['proto', 'u8'],
    ['scope', 'u8'],
    ['pad', { pad: 2 }],
  ]);

const lbService = (cName: string) =>
  struct<LbService>(cName, [
    ['backend_id', 'u32'],
    ['count', 'u16'],
    ['rev_nat_index', 'u16'],
    ['flags', 'u8'],
    ['flags2', 'u8'],
    ['qcount', 'u16'],
  ]);

const lbBackend = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<LbBackend>(cName, [
    ['address', ip],
    ['port', 'be16'],
    ['proto', 'u8'],
    ['flags', 'u8'],
    ['cluster_id', 'u8'],
    ['pad', { pad: 3 }],
  ]);

const lbRevNat = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<LbRevNat>(cName, [
    ['address', ip],
    ['port', 'be16'],
  ]);

const lbAffinityKey = (cName: string, idBytes: number) =>
  struct<LbAffinityKey>(cName, [
    ['client_id', { bytes: idBytes }],
    ['rev_nat_id', 'u16'],
    ['netns_cookie', 'u8'],
    ['pad1', { pad: 1 }],
    ['pad2', { pad: 4 }],
  ]);

const lbSrcRangeKey = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<LbSrcRangeKey>(cName, [
    ['prefixlen', 'u32'],
    ['rev_nat_id', 'u16'],
    ['pad', { pad: 2 }],
    ['addr', ip],
  ]);

const sockTuple = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<LbSockTuple>(cName, [
    ['cookie', 'u64'],
    ['address', ip],
    ['port', 'be16'],
    ['pad', { pad: 2 }],
  ]);

const sockEntry = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<LbSockEntry>(cName, [
    ['address', ip],
    ['port', 'be16'],
    ['rev_nat_index', 'u16'],
  ]);

export const lbBackendKey = struct<LbBackendKey>('lb_backend_key', [['backend_id', 'u32']]);
export const lbRevNatKey = struct<LbRevNatKey>('lb_rev_nat_key', [['rev_nat_index', 'u16']]);
export const lbAffinityVal = struct<LbAffinityVal>('lb_affinity_val', [
  ['last_used', 'u64'],
  ['backend_id', 'u32'],
  ['pad', { pad: 4 }],
]);
export const lbAffinityMatch = struct<LbAffinityMatch>('lb_affinity_match', [
  ['backend_id', 'u32'],
  ['rev_nat_id', 'u16'],
  ['pad', { pad: 2 }],
]);
export const lbPresent = struct<LbPresent>('lb_present', [['pad', { pad: 1 }]]);
export const lbMaglevKey = struct<LbMaglevKey>('lb_maglev_key', [['rev_nat_id', 'u16']]);
const lbMapId = struct<LbMapId>('lb_map_id', [['id', 'u32']]);
const lbIndex = struct<LbIndex>('lb_index', [['index', 'u32']]);
export const lbConfig = struct<LbProgConfig>('lb_config', [
  ['maglev_lut_size', 'u32'],
  ['pad', { pad: 4 }],
]);

/** Cilium's default size of every LB map (--bpf-lb-map-max). */
export const LB_MAP_MAX = 65536;
/** Cilium's default size of the socket reverse NAT maps (--bpf-sock-rev-map-max). */
export const SOCK_REV_NAT_MAX = 262144;
/** Cilium's default Maglev table size (--bpf-lb-maglev-table-size): a prime. */
export const MAGLEV_TABLE_SIZE = 16381;

/** The maps of one address family. */
export interface LbFamilySpecs {
  readonly services: MapSpec<LbKey, LbService>;
  readonly backends: MapSpec<LbBackendKey, LbBackend>;
  readonly revNat: MapSpec<LbRevNatKey, LbRevNat>;
  readonly affinity: MapSpec<LbAffinityKey, LbAffinityVal>;
  readonly sourceRange: MapSpec<LbSrcRangeKey, LbPresent>;
  readonly maglev: MapSpec<LbMaglevKey, LbMapId>;
  readonly sockRevNat: MapSpec<LbSockTuple, LbSockEntry>;
}

function familySpecs(v: 4 | 6): LbFamilySpecs {
  const ip = v === 4 ? 'ipv4' : 'ipv6';
  return {
    services: mapSpec({
      name: `cellium_lb${v}_services_v2`,
      type: MapType.Hash,
      key: lbKey(`lb${v}_key`, ip),
      value: lbService(`lb${v}_service`),
      maxEntries: LB_MAP_MAX,
      flags: BPF_F_NO_PREALLOC,
    }),
    backends: mapSpec({
      name: `cellium_lb${v}_backends_v3`,
      type: MapType.Hash,
      key: lbBackendKey,
      value: lbBackend(`lb${v}_backend`, ip),
      maxEntries: LB_MAP_MAX,
      flags: BPF_F_NO_PREALLOC,
    }),
    revNat: mapSpec({
      name: `cellium_lb${v}_reverse_nat`,
      type: MapType.Hash,
      key: lbRevNatKey,
      value: lbRevNat(`lb${v}_reverse_nat`, ip),
      maxEntries: LB_MAP_MAX,
      flags: BPF_F_NO_PREALLOC,
    }),
    affinity: mapSpec({
      name: `cellium_lb${v}_affinity`,
      type: MapType.LruHash,
      key: lbAffinityKey(`lb${v}_affinity_key`, v === 4 ? 8 : 16),
      value: lbAffinityVal,
      maxEntries: LB_MAP_MAX,
    }),
    sourceRange: mapSpec({
      name: `cellium_lb${v}_source_range`,
      type: MapType.LpmTrie,
      key: lbSrcRangeKey(`lb${v}_src_range_key`, ip),
      value: lbPresent,
      maxEntries: LB_MAP_MAX,
      flags: BPF_F_NO_PREALLOC,
    }),
    maglev: mapSpec({
      name: `cellium_lb${v}_maglev`,
      type: MapType.HashOfMaps,
      key: lbMaglevKey,
      value: lbMapId,
      maxEntries: LB_MAP_MAX,
      inner: {
        type: MapType.Array,
        keySize: 4,
        valueSize: 4,
        maxEntries: MAGLEV_TABLE_SIZE,
        flags: 0,
      },
    }),
    sockRevNat: mapSpec({
      name: `cellium_lb${v}_reverse_sk`,
      type: MapType.LruHash,
      key: sockTuple(`ipv${v}_revnat_tuple`, ip),
      value: sockEntry(`ipv${v}_revnat_entry`, ip),
      maxEntries: SOCK_REV_NAT_MAX,
    }),
  };
}

/** The maps of a family as a list. */
export function familyList(f: LbFamilySpecs): MapSpec<unknown, unknown>[] {
  return [
    f.services,
    f.backends,
    f.revNat,
    f.affinity,
    f.sourceRange,
    f.maglev,
    f.sockRevNat,
  ] as MapSpec<unknown, unknown>[];
}

/** The IPv4 maps. */
export const LB4 = familySpecs(4);
/** The IPv6 maps. */
export const LB6 = familySpecs(6);

/** Backends affinity may pick, per service (both families). */
export const AFFINITY_MATCH_MAP = mapSpec({
  name: 'cellium_lb_affinity_match',
  type: MapType.Hash,
  key: lbAffinityMatch,
  value: lbPresent,
  maxEntries: LB_MAP_MAX,
  flags: BPF_F_NO_PREALLOC,
});

/** A device facing outside (--devices), by ifindex. */
export interface LbDeviceKey {
  readonly ifindex: number;
}

/** Its addresses (0.0.0.0 / :: for none): what NodePort traffic to a remote backend leaves with. */
export interface LbDevice {
  readonly ipv4: string;
  readonly ipv6: string;
}

export const lbDeviceKey = struct<LbDeviceKey>('lb_device_key', [['ifindex', 'u32']]);
export const lbDevice = struct<LbDevice>('lb_device', [
  ['ipv4', 'ipv4'],
  ['ipv6', 'ipv6'],
]);

/** The node's devices facing outside and their addresses (bpf_host's source NAT). */
export const LB_DEVICES_MAP = mapSpec({
  name: 'cellium_lb_devices',
  type: MapType.Hash,
  key: lbDeviceKey,
  value: lbDevice,
  maxEntries: 256,
  flags: BPF_F_NO_PREALLOC,
});

/** What programs cannot know otherwise (the Maglev table size). */
export const LB_CONFIG_MAP = mapSpec({
  name: 'cellium_lb_config',
  type: MapType.Array,
  key: lbIndex,
  value: lbConfig,
  maxEntries: 1,
});

/** Service flags (lb{4,6}_service.flags and flags2), as in lb.h. */
export const SVC_FLAG = {
  EXTERNAL_IP: 1 << 0,
  NODEPORT: 1 << 1,
  EXT_LOCAL_SCOPE: 1 << 2,
  HOSTPORT: 1 << 3,
  AFFINITY: 1 << 4,
  LOADBALANCER: 1 << 5,
  ROUTABLE: 1 << 6,
  SOURCE_RANGE: 1 << 7,
} as const;

/** flags2 bits. */
export const SVC_FLAG2 = {
  LOCALREDIRECT: 1 << 0,
  NAT_46X64: 1 << 1,
  L7LOADBALANCER: 1 << 2,
  LOOPBACK: 1 << 3,
  INT_LOCAL_SCOPE: 1 << 4,
  TWO_SCOPES: 1 << 5,
} as const;

/** The lookup scopes of a services key. */
export const SCOPE = { EXT: 0, INT: 1 } as const;

/** Backend states in lb{4,6}_backend.flags. */
export const BE_STATE = { active: 0, terminating: 1, quarantined: 2, maintenance: 3 } as const;

/** The algorithm bits of a master entry's backend_id (the low 24 bits: affinity timeout). */
export const LB_ALGORITHM = { random: 1, maglev: 2 } as const;
export const LB_ALGORITHM_SHIFT = 24;
export const LB_AFFINITY_TIMEOUT_MASK = 0xffffff;

/** Every map of the load balancer, as the layout test sees them. */
export const LB_MAPS: readonly MapSpec<unknown, unknown>[] = [
  ...familyList(LB4),
  ...familyList(LB6),
  AFFINITY_MATCH_MAP,
  LB_CONFIG_MAP,
  LB_DEVICES_MAP,
] as MapSpec<unknown, unknown>[];
