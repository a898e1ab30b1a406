// CIDRs and IPs as Kubernetes objects carry them (spec.podCIDRs, annotations), checked the same
// way wherever they are read (IPAM mode `kubernetes` and the node cell's Kubernetes nodes).
import { cidrProblem } from '../../core/hive/index.js';
import { formatIp, parseIp, type Family } from '../../core/ip.js';

/** The family and canonical text of a CIDR, or the reason it is not one (host bits set included). */
export function checkCidr(
  v: unknown,
): { readonly family: Family; readonly cidr: string } | { readonly problem: string } {
  // JSON.stringify gives undefined for undefined and functions, whatever its type says.
  const json = (JSON.stringify as (x: unknown) => string | undefined)(v);
  if (typeof v !== 'string') return { problem: `${json ?? 'undefined'} is not a CIDR` };
  if (v.length > 64) return { problem: `${JSON.stringify(v.slice(0, 64))}... is not a CIDR` };
  const problem = cidrProblem(v);
  if (problem !== undefined) return { problem };
  const [ip = '', len = ''] = v.split('/');
  const p = parseIp(ip);
  if (!p) return { problem: `'${v}' is not a CIDR` };
  const host = BigInt((p.family === 'ipv4' ? 32 : 128) - Number(len));
  if ((p.value >> host) << host !== p.value) return { problem: `'${v}' has host bits set` };
  return { family: p.family, cidr: `${formatIp(p.family, p.value)}/${len}` };
}

/** The canonical text of an IP of `family` (any family when omitted), or undefined. */
export function checkIp(v: unknown, family?: Family): string | undefined {
  if (typeof v !== 'string' || v.length > 45) return undefined;
  const p = parseIp(v);
  if (!p || (family !== undefined && p.family !== family)) return undefined;
  return formatIp(p.family, p.value);
}

/** Ranges no pod CIDR may touch: [family, first address, prefix length, what they are]. */
const RESERVED: readonly [Family, string, number, string][] = [
  ['ipv4', '0.0.0.0', 8, 'unspecified ("this network") addresses'],
  ['ipv4', '127.0.0.0', 8, 'loopback addresses'],
  ['ipv4', '224.0.0.0', 4, 'multicast addresses'],
  ['ipv4', '240.0.0.0', 4, 'reserved and broadcast addresses'],
  ['ipv6', '::', 127, 'the unspecified and loopback addresses'],
  ['ipv6', 'ff00::', 8, 'multicast addresses'],
];

/**
 * Why a checked CIDR (checkCidr's canonical form) cannot be a node's pod CIDR, or undefined: one
 * of every address (pods there, or all other traffic sent to that node), or one overlapping
 * unspecified, loopback or multicast addresses. A broken or hostile Node object gives these.
 */
export function podCidrProblem(family: Family, cidr: string): string | undefined {
  const [ip = '', len = ''] = cidr.split('/');
  const bits = Number(len);
  if (bits === 0) return `'${cidr}' is every address, not a pod CIDR`;
  const width = family === 'ipv4' ? 32 : 128;
  const value = parseIp(ip)?.value ?? 0n;
  for (const [f, first, plen, what] of RESERVED) {
    if (f !== family) continue;
    const shift = BigInt(width - Math.min(plen, bits));
    if (value >> shift === (parseIp(first)?.value ?? 0n) >> shift) {
      return `'${cidr}' overlaps ${what}`;
    }
  }
  return undefined;
}
