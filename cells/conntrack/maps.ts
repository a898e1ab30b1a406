// The connection tracking and NAT maps, declared once. The layouts mirror
// datapath-c/include/cellium/ct.h (Cilium's ct and snat maps); layout.test.ts checks them against
// the BTF of bpf_lxc.o.
import { mapSpec, MapType, struct, type MapSpec } from '../../core/bpf/index.js';

/** One direction of a flow (TUPLE_F in `flags`); see ct.h for which direction each kind is. */
export interface CtTuple {
  readonly daddr: string;
  readonly saddr: string;
  readonly dport: number;
  readonly sport: number;
  readonly nexthdr: number;
  readonly flags: number;
}

/** A tracked flow (for a TUPLE_F_SERVICE entry, rx_bytes holds the backend id). */
export interface CtEntry {
  readonly rx_packets: bigint;
  readonly rx_bytes: bigint;
  readonly tx_packets: bigint;
  readonly tx_bytes: bigint;
  /** When it expires, in seconds of CLOCK_MONOTONIC. */
  readonly lifetime: number;
  readonly flags: number;
  readonly rev_nat_index: number;
  readonly ifindex: number;
  readonly tx_flags_seen: number;
  readonly rx_flags_seen: number;
  readonly src_sec_id: number;
  readonly last_tx_report: number;
  readonly last_rx_report: number;
}

/** A NAT mapping of a flow. */
export interface NatEntry {
  readonly created: bigint;
  readonly needs_ct: bigint;
  readonly to_saddr: string;
  readonly to_sport: number;
}

const tuple = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<CtTuple>(cName, [
    ['daddr', ip],
    ['saddr', ip],
    ['dport', 'be16'],
    ['sport', 'be16'],
    ['nexthdr', 'u8'],
    ['flags', 'u8'],
  ]);

export const ctEntry = struct<CtEntry>('ct_entry', [
  ['rx_packets', 'u64'],
  ['rx_bytes', 'u64'],
  ['tx_packets', 'u64'],
  ['tx_bytes', 'u64'],
  ['lifetime', 'u32'],
  ['flags', 'u16'],
  ['rev_nat_index', 'u16'],
  ['ifindex', 'u16'],
  ['tx_flags_seen', 'u8'],
  ['rx_flags_seen', 'u8'],
  ['src_sec_id', 'u32'],
  ['last_tx_report', 'u32'],
  ['last_rx_report', 'u32'],
]);

const natEntry = (cName: string, ip: 'ipv4' | 'ipv6') =>
  struct<NatEntry>(cName, [
    ['created', 'u64'],
    ['needs_ct', 'u64'],
    ['pad1', { pad: 8 }],
    ['pad2', { pad: 8 }],
    ['to_saddr', ip],
    ['to_sport', 'be16'],
    ['pad3', { pad: 2 }],
  ]);

export const ipv4CtTuple = tuple('ipv4_ct_tuple', 'ipv4');
export const ipv6CtTuple = tuple('ipv6_ct_tuple', 'ipv6');

/** Cilium's default sizes (--bpf-ct-global-tcp-max, --bpf-ct-global-any-max, --bpf-nat-global-max). */
export const CT_TCP_MAX = 524288;
export const CT_ANY_MAX = 262144;
export const NAT_MAX = 524288;

/** TUPLE_F values of a key's flags. */
export const TUPLE_F = { OUT: 0, IN: 1, RELATED: 2, SERVICE: 4 } as const;

/** ct_entry.flags bits. */
export const CT_F = {
  RX_CLOSING: 1 << 0,
  TX_CLOSING: 1 << 1,
  SEEN_NON_SYN: 1 << 4,
  NODE_PORT: 1 << 5,
  /** bpf_lxc's policy admitted the flow: its packets and replies pass without a policy lookup. */
  POLICY: 1 << 11,
} as const;

/** The maps of one address family. */
export interface CtFamilySpecs {
  readonly tcp: MapSpec<CtTuple, CtEntry>;
  readonly any: MapSpec<CtTuple, CtEntry>;
  readonly nat: MapSpec<CtTuple, NatEntry>;
}

function familySpecs(v: 4 | 6): CtFamilySpecs {
  const key = v === 4 ? ipv4CtTuple : ipv6CtTuple;
  return {
    tcp: mapSpec({
      name: `cellium_ct${v}_global`,
      type: MapType.LruHash,
      key,
      value: ctEntry,
      maxEntries: CT_TCP_MAX,
    }),
    any: mapSpec({
      name: `cellium_ct_any${v}_global`,
      type: MapType.LruHash,
      key,
      value: ctEntry,
      maxEntries: CT_ANY_MAX,
    }),
    nat: mapSpec({
      name: `cellium_snat_v${v}_external`,
      type: MapType.LruHash,
      key,
      value: natEntry(`ipv${v}_nat_entry`, v === 4 ? 'ipv4' : 'ipv6'),
      maxEntries: NAT_MAX,
    }),
  };
}

/** The IPv4 maps. */
export const CT4 = familySpecs(4);
/** The IPv6 maps. */
export const CT6 = familySpecs(6);

/** Every map of the conntrack cell. */
export const CT_MAPS: readonly MapSpec<unknown, unknown>[] = [CT4, CT6].flatMap(
  (f) => [f.tcp, f.any, f.nat] as MapSpec<unknown, unknown>[],
);
