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
