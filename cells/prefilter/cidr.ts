// Deny CIDRs as Cilium's prefilter reads them (Go's net.ParseCIDR): an address, a slash and a
// prefix length; host bits are cleared, so `10.1.2.3/8` means (and is listed as) `10.0.0.0/8`.
import { formatIp, parseIp, type Family } from '../../core/ip.js';

/** A deny CIDR, canonical: host bits cleared, the address in its shortest form. */
export interface DenyCidr {
  readonly family: Family;
  /** The network address (host bits cleared). */
  readonly network: bigint;
  readonly bits: number;
  /** `network/bits` as the list shows it. */
  readonly text: string;
}

/** The canonical form of a CIDR, or why it is not one (the reason quotes the CIDR). */
export function parseDenyCidr(raw: string): DenyCidr | { readonly problem: string } {
  const shown = JSON.stringify(raw);
  const slash = raw.indexOf('/');
  if (slash < 0) return { problem: `${shown} is not a CIDR: it has no /prefix-length` };
  const ip = raw.slice(0, slash);
  const len = raw.slice(slash + 1);
  const addr = parseIp(ip);
  if (!addr)
    return { problem: `${shown} is not a CIDR: ${JSON.stringify(ip)} is not an IP address` };
  const max = addr.family === 'ipv4' ? 32 : 128;
  // Decimal without leading zeros, as Go's parser wants it.
  if (!/^(0|[1-9]\d{0,2})$/.test(len) || Number(len) > max) {
    return { problem: `${shown} is not a CIDR: the prefix length must be 0 to ${max}` };
  }
  const bits = Number(len);
  // ::ffff:0:0/96: IPv4 traffic never carries these sources, so such a rule would block nothing.
  if (addr.family === 'ipv6' && bits >= 96 && addr.value >> 32n === 0xffffn) {
    return {
      problem: `${shown} is an IPv4-mapped IPv6 CIDR, which IPv4 traffic never matches: deny the IPv4 CIDR instead`,
    };
  }
  const width = BigInt(max);
  const mask = bits === 0 ? 0n : ((1n << width) - 1n) ^ ((1n << (width - BigInt(bits))) - 1n);
  const network = addr.value & mask;
  return {
    family: addr.family,
    network,
    bits,
    text: `${formatIp(addr.family, network)}/${bits}`,
  };
}

/** The network address of a canonical CIDR as bytes in network order (4 or 16). */
export function networkBytes(c: DenyCidr): Buffer {
  const n = c.family === 'ipv4' ? 4 : 16;
  const out = Buffer.alloc(n);
  let v = c.network;
  for (let i = n - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** Orders CIDRs for listing: IPv4 first, then by address and prefix length. */
export function compareCidrs(a: DenyCidr, b: DenyCidr): number {
  if (a.family !== b.family) return a.family === 'ipv4' ? -1 : 1;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.bits - b.bits;
}
