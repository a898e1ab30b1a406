// An ipcache entry as the kvstore holds it: Cilium's identity.IPIdentityPair written as JSON
// under `cilium/state/ip/v1/<address space>/<ip>`. Everything read back is validated.
import { formatIp, parseIp } from '../../core/ip.js';

/** Where ipcache entries live (Cilium's `IPIdentitiesPath`). */
export const IP_PREFIX = 'cilium/state/ip/v1/';

/** The address space Cilium (and Cellium) publish in. */
export const DEFAULT_ADDRESS_SPACE = 'default';

/** The largest identity another node may publish: cluster-wide ids fit in 24 bits (cluster id
 * in bits 16-23); node-local ids (bit 24, CIDR identities) never leave their node. */
export const MAX_SHARED_IDENTITY = (1 << 24) - 1;

/** An IP's key: `<prefix>default/<ip>`. */
export function ipKey(ip: string): string {
  return `${IP_PREFIX}${DEFAULT_ADDRESS_SPACE}/${ip}`;
}

/** Cilium's identity.IPIdentityPair (Mask null: a host IP, not a CIDR). */
export interface IpIdentityPair {
  readonly IP: string;
  readonly Mask: string | null;
  /** The node the IP lives on: the tunnel endpoint for it. */
  readonly HostIP: string;
  readonly ID: number;
  /** The encryption key index (0: none). */
  readonly Key: number;
  readonly Metadata: string;
  readonly K8sNamespace?: string;
  readonly K8sPodName?: string;
}

/** What an entry read from the kvstore says, validated. */
export interface RemoteIp {
  /** Normalized prefix (`10.0.1.5/32`). */
  readonly prefix: string;
  readonly identity: number;
  readonly hostIP: string;
  readonly encryptKey: number;
  readonly namespace?: string;
  readonly name?: string;
}

/** A value read from the kvstore that cannot be used, with the reason. */
export class IpValueError extends Error {
  override readonly name = 'IpValueError';
}

/** A local endpoint's IP as its kvstore value (JSON). */
export function encodeIp(e: {
  readonly ip: string;
  readonly hostIP: string;
  readonly identity: number;
  readonly encryptKey: number;
  readonly namespace?: string;
  readonly name?: string;
}): string {
  const v: IpIdentityPair = {
    IP: e.ip,
    Mask: null,
    HostIP: e.hostIP,
    ID: e.identity,
    Key: e.encryptKey,
    Metadata: '',
    ...(e.namespace !== undefined ? { K8sNamespace: e.namespace } : {}),
    ...(e.name !== undefined ? { K8sPodName: e.name } : {}),
  };
  return JSON.stringify(v);
}

function canonical(v: unknown, field: string): { family: 'ipv4' | 'ipv6'; ip: string } {
  const p = typeof v === 'string' ? parseIp(v) : undefined;
  if (!p) throw new IpValueError(`${field}: ${JSON.stringify(v)} is not an IP address`);
  return { family: p.family, ip: formatIp(p.family, p.value) };
}

function maskLength(b64: string, family: 'ipv4' | 'ipv6'): number {
  const bad = (): IpValueError =>
    new IpValueError(`Mask: ${JSON.stringify(b64)} is not a prefix mask`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw bad();
  const mask = Buffer.from(b64, 'base64');
  if (mask.length !== (family === 'ipv4' ? 4 : 16)) throw bad();
  let n = 0;
  let ended = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      if (one && ended) throw bad();
      if (one) n++;
      else ended = true;
    }
  }
  return n;
}

/**
 * Validates an entry read under `key`: the key's last segment is the entry's IP, the value a
 * JSON object with that IP, a prefix mask of its family or null, an identity in
 * 1..MAX_SHARED_IDENTITY, a HostIP that is an IP, a Key in 0..255.
 */
export function parseIpValue(key: string, text: string): RemoteIp {
  const rest = key.startsWith(IP_PREFIX) ? key.slice(IP_PREFIX.length) : '';
  const parts = rest.split('/');
  if (parts.length !== 2 || parts[0] === '') {
    throw new IpValueError(`not an ipcache key (${IP_PREFIX}<address space>/<ip>)`);
  }
  const keyIp = canonical(parts[1], 'key');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new IpValueError('not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new IpValueError('not a JSON object');
  }
  const o = doc as Record<string, unknown>;
  const ip = canonical(o.IP, 'IP');
  if (ip.ip !== keyIp.ip) throw new IpValueError(`IP ${ip.ip} is not the key's ${keyIp.ip}`);
  const bits = ip.family === 'ipv4' ? 32 : 128;
  let len = bits;
  if (o.Mask !== null && o.Mask !== undefined) {
    if (typeof o.Mask !== 'string') throw new IpValueError('Mask: must be base64 or null');
    len = maskLength(o.Mask, ip.family);
  }
  const id = o.ID;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > MAX_SHARED_IDENTITY) {
    throw new IpValueError(
      `ID: ${JSON.stringify(id)} is not an identity (1-${MAX_SHARED_IDENTITY})`,
    );
  }
  const hostIP = canonical(o.HostIP, 'HostIP').ip;
  const encryptKey = o.Key ?? 0;
  if (
    typeof encryptKey !== 'number' ||
    !Number.isInteger(encryptKey) ||
    encryptKey < 0 ||
    encryptKey > 255
  ) {
    throw new IpValueError(`Key: ${JSON.stringify(o.Key)} is not a key index (0-255)`);
  }
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 253)
      throw new IpValueError(`${k}: must be a short string`);
    return v;
  };
  const namespace = str('K8sNamespace');
  const name = str('K8sPodName');
  const p = parseIp(ip.ip);
  const host = BigInt(bits - len);
  const net = p ? (p.value >> host) << host : 0n;
  return {
    prefix: `${formatIp(ip.family, net)}/${len}`,
    identity: id,
    hostIP,
    encryptKey,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
  };
}
