// The prefilter's maps, declared once. The layouts mirror datapath-c/bpf_xdp.c (Cilium's
// lpm_v4_key / lpm_v6_key / lpm_val); layout.test.ts checks them against its BTF.
import { BPF_F_NO_PREALLOC, mapSpec, MapType, struct, type BpfMap } from '../../core/bpf/index.js';
import { formatIp } from '../../core/ip.js';
import type { DenyCidr } from './cidr.js';
import { networkBytes } from './cidr.js';

/** An IPv4 deny prefix: the prefix length, then the address. */
export interface LpmV4Key {
  readonly prefixlen: number;
  readonly addr: string;
}

/** An IPv6 deny prefix; the address as 16 bytes (no family field to tell the codec it is v6). */
export interface LpmV6Key {
  readonly prefixlen: number;
  readonly addr: Buffer;
}

/** The value of a deny entry (unused flags, as Cilium's). */
export interface LpmVal {
  readonly flags: number;
}

export const lpmV4Key = struct<LpmV4Key>('lpm_v4_key', [
  ['prefixlen', 'u32'],
  ['addr', 'ipv4'],
]);

export const lpmV6Key = struct<LpmV6Key>('lpm_v6_key', [
  ['prefixlen', 'u32'],
  ['addr', { bytes: 16 }],
]);

export const lpmVal = struct<LpmVal>('lpm_val', [['flags', 'u8']]);

/** IPv4 deny CIDRs (longest prefix match on the source address). */
export const CIDR_V4_MAP = mapSpec({
  name: 'cellium_cidr_v4_dyn',
  type: MapType.LpmTrie,
  key: lpmV4Key,
  value: lpmVal,
  maxEntries: 65536,
  flags: BPF_F_NO_PREALLOC,
});

/** IPv6 deny CIDRs. */
export const CIDR_V6_MAP = mapSpec({
  name: 'cellium_cidr_v6_dyn',
  type: MapType.LpmTrie,
  key: lpmV6Key,
  value: lpmVal,
  maxEntries: 65536,
  flags: BPF_F_NO_PREALLOC,
});

/** The two deny maps, open. */
export interface DenyMaps {
  readonly v4: BpfMap<LpmV4Key, LpmVal>;
  readonly v6: BpfMap<LpmV6Key, LpmVal>;
}

/** Adds a CIDR to its family's map. */
export function writeCidr(maps: DenyMaps, c: DenyCidr): void {
  if (c.family === 'ipv4') {
    maps.v4.update({ prefixlen: c.bits, addr: formatIp('ipv4', c.network) }, { flags: 0 });
  } else maps.v6.update({ prefixlen: c.bits, addr: networkBytes(c) }, { flags: 0 });
}

/** Removes a CIDR from its family's map; false when it was not there. */
export function eraseCidr(maps: DenyMaps, c: DenyCidr): boolean {
  return c.family === 'ipv4'
    ? maps.v4.delete({ prefixlen: c.bits, addr: formatIp('ipv4', c.network) })
    : maps.v6.delete({ prefixlen: c.bits, addr: networkBytes(c) });
}

/** Every CIDR the maps hold, as `network/bits` text (what a restart compares with its list). */
export function mapCidrs(maps: DenyMaps): string[] {
  const out: string[] = [];
  for (const k of maps.v4.keys()) out.push(`${k.addr}/${k.prefixlen}`);
  for (const k of maps.v6.keys()) {
    let v = 0n;
    for (const b of k.addr) v = (v << 8n) | BigInt(b);
    out.push(`${formatIp('ipv6', v)}/${k.prefixlen}`);
  }
  return out;
}
