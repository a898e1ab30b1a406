import { ApiError, shown, type Model } from '../../core/api/index.js';
import { parseIp } from '../../core/ip.js';
import { isLinkName } from '../../core/net/index.js';
import type { Ipam } from '../ipam/index.js';

/** What the endpoint cell needs to know about a network device of the agent's namespace. */
export interface HostLink {
  /** Its name (a lookup by an altname finds the device under its real name). */
  readonly name: string;
  readonly index: number;
  /** The rtnetlink kind (`veth`, `dummy`, ...); empty for physical devices. */
  readonly kind: string;
  readonly loopback: boolean;
  readonly addresses: readonly { readonly address: string; readonly scope: string | number }[];
}

/** The devices of the agent's network namespace, as the endpoint cell asks about them. */
export interface HostLinks {
  /** A device by name (undefined: there is none); throws when the kernel cannot be asked. */
  get(name: string): HostLink | undefined;
  /** Every device by name, in one query (restore asks once, not per endpoint). */
  all(): ReadonlyMap<string, HostLink>;
}

/** A MAC address as endpoints carry it (empty when unknown), for requests and state files. */
export const MAC_PATTERN = '^(|([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})$';
const MAC = new RegExp(MAC_PATTERN);

/**
 * Checks labels a client sets: none blank, and none with the `reserved:` source, which only the
 * agent gives (a client must not claim `reserved:host`).
 */
export function checkLabels(labels: readonly string[] | undefined, field: string): void {
  for (const [i, l] of (labels ?? []).entries()) {
    if (l.trim() === '') throw new ApiError(400, `${field}.${i}: a label cannot be blank`);
    if (l.trim().startsWith('reserved:')) {
      throw new ApiError(400, `${field}.${i}: ${shown(l)}: reserved labels are the agent's`);
    }
  }
}

/** Checks the parts of a change request that need no state: addresses' syntax, MACs, names. */
export function checkRequest(
  req: Model<'EndpointChangeRequest'>,
  creating: boolean,
  agentLabels = false,
): void {
  if (!agentLabels) checkLabels(req.labels, 'labels');
  for (const f of ['ipv4', 'ipv6'] as const) {
    const ip = req.addressing?.[f];
    if (ip !== undefined && ip !== '' && parseIp(ip)?.family !== f) {
      throw new ApiError(
        400,
        `addressing.${f}: '${ip}' is not an ${f === 'ipv4' ? 'IPv4' : 'IPv6'} address`,
      );
    }
  }
  if (creating && !req.addressing?.ipv4 && !req.addressing?.ipv6) {
    throw new ApiError(400, 'addressing: an endpoint needs an IPv4 or IPv6 address');
  }
  for (const f of ['mac', 'host-mac'] as const) {
    const mac = req[f];
    if (mac !== undefined && !MAC.test(mac)) {
      throw new ApiError(400, `${f}: '${mac}' is not a MAC address`);
    }
  }
  const name = req['interface-name'];
  if (name !== undefined && name !== '' && !isLinkName(name)) {
    throw new ApiError(
      400,
      `interface-name: ${shown(name)} is not a valid interface name (1-15 bytes, no '/', ':' or whitespace)`,
    );
  }
  const cif = req['container-interface-name'];
  if (cif !== undefined && cif !== '' && !isLinkName(cif)) {
    throw new ApiError(
      400,
      `container-interface-name: ${shown(cif)} is not a valid interface name`,
    );
  }
}

/**
 * Why a device cannot be an endpoint's host-side interface, or undefined when it can: it must
 * be a veth of the agent's namespace, never the loopback or one of the node's own devices (a
 * device with a routable address).
 */
export function unusableInterface(link: HostLink | undefined, name: string): string | undefined {
  if (!link) return `no interface named '${name}' exists on this node`;
  if (link.loopback) return `'${name}' is the loopback device, not a pod's veth`;
  if (link.kind !== 'veth') {
    return `'${name}' is a ${link.kind || 'physical'} device, not a veth: bpf_lxc is attached to the host side of a pod's veth pair`;
  }
  const own = link.addresses.find((a) => a.scope !== 'link' && a.scope !== 'host');
  if (own)
    return `'${name}' carries the node address ${own.address}: it is one of the node's own devices`;
  return undefined;
}

/** Resolves an endpoint's host interface: a usable veth whose index matches, or a 400. */
export function checkInterface(
  links: HostLinks,
  name: string,
  index: number | undefined,
): { readonly ifName: string; readonly ifIndex: number } {
  const link = links.get(name);
  const why = unusableInterface(link, name);
  if (why !== undefined || !link) throw new ApiError(400, `interface-name: ${why ?? name}`);
  if (index !== undefined && index !== 0 && index !== link.index) {
    throw new ApiError(
      400,
      `interface-index: ${index} is not the index of interface-name '${name}' (${link.index})`,
    );
  }
  // The device's own name: an altname must not let two endpoints share one device.
  return { ifName: link.name, ifIndex: link.index };
}

/** Checks that an endpoint IP can come from this node's IPAM: family on, in range, not reserved. */
export function checkPoolAddress(ipam: Ipam, ip: string, field: string): void {
  const family = parseIp(ip)?.family;
  if (!family) throw new ApiError(400, `${field}: '${ip}' is not an IP address`);
  const pool = ipam.pools.get(family);
  if (!pool) {
    throw new ApiError(
      400,
      `${field}: ${family === 'ipv4' ? 'IPv4' : 'IPv6'} is disabled on this node (--enable-${family}=false)`,
    );
  }
  if (!pool.contains(ip)) {
    throw new ApiError(
      400,
      `${field}: ${ip} is not in this node's pod CIDR ${pool.cidr} (set datapath-configuration.external-ipam for IPs managed elsewhere)`,
    );
  }
  const reserved = pool.reservedRole(ip);
  if (reserved) throw new ApiError(400, `${field}: ${ip} is ${reserved} of ${pool.cidr}`);
}
