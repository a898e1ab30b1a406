// A node as the kvstore holds it: Cilium's nodeTypes.Node written as JSON under
// `cilium/state/nodes/v1/<cluster>/<name>`, so agents of both kinds could read each other's.
// Everything read back is validated: a bad value is refused with a reason, never half-used.
import { formatIp, parseIp, type Family } from '../../core/ip.js';
import type { StaticNode } from './static-nodes.js';

/** Where the nodes live in the kvstore (Cilium's `nodeStore` prefix). */
export const NODES_PREFIX = 'cilium/state/nodes/v1/';

/** A node's key: `<prefix><cluster>/<name>`. */
export function nodeKey(cluster: string, name: string): string {
  return `${NODES_PREFIX}${cluster}/${name}`;
}

/** A CIDR as Go's net.IPNet marshals it: the network address and the mask bytes in base64. */
export interface CidrValue {
  readonly IP: string;
  readonly Mask: string;
}

/** One of a node's addresses (Cilium's addressing types: InternalIP, ExternalIP, ...). */
export interface NodeAddressValue {
  readonly Type: string;
  readonly IP: string;
}

/** Cilium's nodeTypes.Node, the fields Cellium writes and reads. */
export interface NodeValue {
  readonly Name: string;
  readonly Cluster: string;
  readonly IPAddresses: readonly NodeAddressValue[];
  readonly IPv4AllocCIDR: CidrValue | null;
  readonly IPv6AllocCIDR: CidrValue | null;
  readonly IPv4HealthIP: string;
  readonly IPv6HealthIP: string;
  readonly ClusterID: number;
  readonly Source: string;
  readonly EncryptionKey: number;
  readonly Labels: Record<string, string>;
  /** The node's security identity as it sees itself (1, host). */
  readonly NodeIdentity: number;
}

/** What the local node publishes. */
export interface LocalNodeInfo {
  readonly cluster: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly podCidrs: Readonly<Partial<Record<Family, string>>>;
  readonly healthIpv4?: string;
  readonly healthIpv6?: string;
  /** The host's identity (Cilium's reserved:host, 1). */
  readonly identity: number;
}

/** A value read from the kvstore that cannot be used, with the reason. */
export class NodeValueError extends Error {
  override readonly name = 'NodeValueError';
}

function cidrValue(cidr: string | undefined): CidrValue | null {
  if (cidr === undefined) return null;
  const [ip = '', len = ''] = cidr.split('/');
  const p = parseIp(ip);
  if (!p) return null;
  const bits = p.family === 'ipv4' ? 32 : 128;
  const n = Number(len);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - n)) - 1n);
  const bytes = Buffer.alloc(bits / 8);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Number((mask >> BigInt((bytes.length - 1 - i) * 8)) & 0xffn);
  }
  return { IP: formatIp(p.family, p.value & mask), Mask: bytes.toString('base64') };
}

/** The local node as its kvstore value (JSON). */
export function encodeLocalNode(n: LocalNodeInfo): string {
  const v: NodeValue = {
    Name: n.name,
    Cluster: n.cluster,
    IPAddresses: n.ips.map((ip) => ({ Type: 'InternalIP', IP: ip })),
    IPv4AllocCIDR: cidrValue(n.podCidrs.ipv4),
    IPv6AllocCIDR: cidrValue(n.podCidrs.ipv6),
    IPv4HealthIP: n.healthIpv4 ?? '',
    IPv6HealthIP: n.healthIpv6 ?? '',
    ClusterID: 0,
    Source: 'local',
    EncryptionKey: 0,
    Labels: {},
    NodeIdentity: n.identity,
  };
  return JSON.stringify(v);
}

const NAME_PART = /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,251}[a-zA-Z0-9])?$/;

/** The cluster and name a node key stands for, or a NodeValueError. */
export function parseNodeKey(key: string): { cluster: string; name: string } {
  const rest = key.startsWith(NODES_PREFIX) ? key.slice(NODES_PREFIX.length) : '';
  const parts = rest.split('/');
  const [cluster = '', name = ''] = parts;
  if (parts.length !== 2 || !NAME_PART.test(cluster) || !NAME_PART.test(name)) {
    throw new NodeValueError(`not a node key (${NODES_PREFIX}<cluster>/<name>)`);
  }
  return { cluster, name };
}

function ipOf(v: unknown, field: string, family?: Family): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const p = typeof v === 'string' ? parseIp(v) : undefined;
  if (!p || (family !== undefined && p.family !== family)) {
    const what = family === undefined ? 'an IP' : `an IP${family === 'ipv4' ? 'v4' : 'v6'}`;
    throw new NodeValueError(`${field}: ${JSON.stringify(v)} is not ${what} address`);
  }
  return formatIp(p.family, p.value);
}

/** The prefix length of a contiguous mask, or undefined. */
function maskLength(mask: Buffer): number | undefined {
  let n = 0;
  let ended = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      if (one && ended) return undefined;
      if (one) n++;
      else ended = true;
    }
  }
  return n;
}

function cidrOf(v: unknown, field: string, family: Family): string | undefined {
  if (v === undefined || v === null) return undefined;
  const o = v as Partial<Record<'IP' | 'Mask', unknown>>;
  const bad = (why: string): NodeValueError =>
    new NodeValueError(`${field}: ${JSON.stringify(v)} is not a CIDR (${why})`);
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('expected {IP, Mask}');
  const ip = ipOf(o.IP, `${field}.IP`, family);
  if (ip === undefined) throw bad('no IP');
  if (typeof o.Mask !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.Mask)) {
    throw bad('Mask is not base64');
  }
  const mask = Buffer.from(o.Mask, 'base64');
  let len = mask.length === 4 || mask.length === 16 ? maskLength(mask) : undefined;
  // Go may hold an IPv4 mask in 16 bytes, its first 96 bits set.
  if (len !== undefined && family === 'ipv4' && mask.length === 16) {
    len = len >= 96 ? len - 96 : undefined;
  }
  if (len === undefined || (family === 'ipv6' && mask.length !== 16)) {
    throw bad('Mask is not a prefix mask of its family');
  }
  const p = parseIp(ip);
  const bits = family === 'ipv4' ? 32 : 128;
  const host = BigInt(bits - len);
  if (!p || (p.value >> host) << host !== p.value) throw bad('host bits set');
  return `${ip}/${len}`;
}

/**
 * Validates a node read from the kvstore under `key` and returns it as a remote node named
 * `<cluster>/<name>`: the value must be a JSON object whose Name and Cluster match the key, with
 * at least one valid address; alloc CIDRs and health IPs, when present, must be valid and of
 * their family. The primary address of each family is the first InternalIP, else ExternalIP,
 * else any (CiliumInternalIP is never one), as Cilium picks it.
 */
export function parseNodeValue(key: string, text: string): StaticNode {
  const { cluster, name } = parseNodeKey(key);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new NodeValueError('not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new NodeValueError('not a JSON object');
  }
  const o = doc as Record<string, unknown>;
  if (o.Name !== name) {
    throw new NodeValueError(`Name ${JSON.stringify(o.Name)} is not the key's ${name}`);
  }
  if (o.Cluster !== cluster) {
    throw new NodeValueError(`Cluster ${JSON.stringify(o.Cluster)} is not the key's ${cluster}`);
  }
  const addrs = o.IPAddresses ?? [];
  if (!Array.isArray(addrs)) throw new NodeValueError('IPAddresses: must be a list');
  const parsed = addrs.map((a: unknown, i) => {
    const e = (a ?? {}) as Partial<Record<'Type' | 'IP', unknown>>;
    if (typeof a !== 'object' || a === null || typeof e.Type !== 'string') {
      throw new NodeValueError(`IPAddresses.${i}: expected {Type, IP}`);
    }
    const ip = ipOf(e.IP, `IPAddresses.${i}.IP`);
    if (ip === undefined) throw new NodeValueError(`IPAddresses.${i}.IP: missing`);
    return { type: e.Type, ip };
  });
  const primary = (v6: boolean): string | undefined => {
    const fam = parsed.filter((a) => a.ip.includes(':') === v6 && a.type !== 'CiliumInternalIP');
    return (
      fam.find((a) => a.type === 'InternalIP') ??
      fam.find((a) => a.type === 'ExternalIP') ??
      fam[0]
    )?.ip;
  };
  const ipv4 = primary(false);
  const ipv6 = primary(true);
  if (ipv4 === undefined && ipv6 === undefined) {
    throw new NodeValueError('IPAddresses: a node needs an IPv4 or IPv6 address');
  }
  const podCidrs = [
    cidrOf(o.IPv4AllocCIDR, 'IPv4AllocCIDR', 'ipv4'),
    cidrOf(o.IPv6AllocCIDR, 'IPv6AllocCIDR', 'ipv6'),
  ].filter((c): c is string => c !== undefined);
  const healthIpv4 = ipOf(o.IPv4HealthIP, 'IPv4HealthIP', 'ipv4');
  const healthIpv6 = ipOf(o.IPv6HealthIP, 'IPv6HealthIP', 'ipv6');
  return {
    name: `${cluster}/${name}`,
    ...(ipv4 !== undefined ? { ipv4 } : {}),
    ...(ipv6 !== undefined ? { ipv6 } : {}),
    podCidrs,
    ...(healthIpv4 !== undefined ? { healthIpv4 } : {}),
    ...(healthIpv6 !== undefined ? { healthIpv6 } : {}),
  };
}
