// The policy maps, declared once. Layouts mirror datapath-c/include/cellium/policy.h (Cilium's
// policy map); the kernel tests read them through bpf_lxc.
import { BPF_F_NO_PREALLOC, mapSpec, MapType, struct, type MapSpec } from '../../core/bpf/index.js';

/** cellium_policy_<epid> key: identity, direction, protocol and port, matched by prefix. */
export interface PolicyKey {
  /** Bits of what follows that must match: 40 (identity and direction), 48 (+ protocol), 48+n. */
  readonly prefixlen: number;
  /** The peer's identity; 0 stands for every identity. */
  readonly sec_label: number;
  /** 0 ingress (to the endpoint), 1 egress (from it). */
  readonly egress: number;
  readonly protocol: number;
  /** The destination port (the ICMP type for ICMP and ICMPv6). */
  readonly dport: number;
}

/** cellium_policy_<epid> value: allow or deny, and what the entry decided. */
export interface PolicyEntry {
  readonly proxy_port: number;
  /** POLICY_F bits. */
  readonly flags: number;
  readonly auth_type: number;
  readonly packets: bigint;
  readonly bytes: bigint;
}

/** policy_entry.flags bits. */
export const POLICY_F = { DENY: 1, WILDCARD_PROTO: 2, WILDCARD_DPORT: 4 } as const;

/** Prefix lengths of policy keys. */
export const POLICY_PREFIX = { DIRECTION: 40, PROTOCOL: 48, FULL: 64 } as const;

export const policyKey = struct<PolicyKey>('policy_key', [
  ['prefixlen', 'u32'],
  ['sec_label', 'u32'],
  ['egress', 'u8'],
  ['protocol', 'u8'],
  ['dport', 'be16'],
]);

export const policyEntry = struct<PolicyEntry>('policy_entry', [
  ['proxy_port', 'be16'],
  ['flags', 'u8'],
  ['auth_type', 'u8'],
  ['pad', { pad: 4 }],
  ['packets', 'u64'],
  ['bytes', 'u64'],
]);

/** Cilium's default size of an endpoint's policy map (--bpf-policy-map-max). */
export const POLICY_MAP_MAX = 16384;
/** How many endpoints cellium_policy can name (one per host-side interface). */
export const POLICY_ENDPOINTS_MAX = 65535;

/** An endpoint's policy map (one per endpoint, pinned under its id). */
export function policyMapSpec(epid: number, maxEntries: number): MapSpec<PolicyKey, PolicyEntry> {
  return mapSpec({
    name: policyMapName(epid),
    type: MapType.LpmTrie,
    key: policyKey,
    value: policyEntry,
    maxEntries,
    flags: BPF_F_NO_PREALLOC,
  });
}

/** The pinned name of an endpoint's policy map. */
export function policyMapName(epid: number): string {
  return `cellium_policy_${epid}`;
}

/** The endpoint id a pin name stands for, if it is an endpoint's policy map. */
export function policyMapId(name: string): number | undefined {
  const m = /^cellium_policy_([1-9][0-9]{0,4})$/.exec(name);
  const id = m ? Number(m[1]) : NaN;
  return Number.isInteger(id) && id <= 65535 ? id : undefined;
}

/** cellium_policy key: an endpoint's host-side ifindex. */
export interface PolicyIfKey {
  readonly ifindex: number;
}

/** cellium_policy value: the inner map's id (as the kernel reports it). */
export interface PolicyMapRef {
  readonly id: number;
}

/** bpf_lxc finds an endpoint's policy map through this, by the interface a packet is on. */
export const POLICY_OUTER_MAP = mapSpec({
  name: 'cellium_policy',
  type: MapType.HashOfMaps,
  key: struct<PolicyIfKey>('policy_if_key', [['ifindex', 'u32']]),
  value: struct<PolicyMapRef>('policy_map_ref', [['id', 'u32']]),
  maxEntries: POLICY_ENDPOINTS_MAX,
  inner: {
    type: MapType.LpmTrie,
    keySize: policyKey.size,
    valueSize: policyEntry.size,
    maxEntries: POLICY_MAP_MAX,
    flags: BPF_F_NO_PREALLOC,
  },
});
