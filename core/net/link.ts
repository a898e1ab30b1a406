// Links and their addresses as rtnetlink reports them (RTM_GETLINK, RTM_GETADDR), from the
// network namespace the agent runs in. No sysfs: under `nsenter --net` /sys still shows the
// namespace it was mounted in, netlink always answers for the caller's own.
import { readIpBytes } from '../ip.js';
import { NLM_F, parseAttrs, strAttr, u32Attr, type NetlinkMessage } from './netlink.js';
import { NetlinkError, withNetlink, type NetlinkSocket } from './socket.js';

/** rtnetlink message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
} as const;

/** IFLA_* attributes of a link. */
export const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  LINKINFO: 18,
  NET_NS_FD: 28,
  EXT_MASK: 29,
  NET_NS_PID: 19,
} as const;

/** IFLA_INFO_* attributes nested in IFLA_LINKINFO. */
export const IFLA_INFO = { KIND: 1, DATA: 2 } as const;

/** IFA_* attributes of an address. */
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, FLAGS: 8 } as const;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const ENODEV = 19;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;

/** An address of a link, as `ip addr` shows it. */
export interface LinkAddress {
  readonly family: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly prefixLen: number;
  /** RT_SCOPE_*: universe is 'global'; a value without a name stays a number. */
  readonly scope: 'global' | 'site' | 'link' | 'host' | number;
}

/** A network device of the caller's namespace. */
export interface LinkInfo {
  readonly index: number;
  /** The device's name (a query by altname finds it too, and reports this name). */
  readonly name: string;
  /** IFLA_INFO_KIND (`veth`, `dummy`, `bridge`, ...); '' for physical devices and lo. */
  readonly kind: string;
  /** IFF_* flags. */
  readonly flags: number;
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  readonly loopback: boolean;
  /** aa:bb:cc:dd:ee:ff, or '' for a device without a link-layer address. */
  readonly mac: string;
  readonly mtu: number;
  readonly addresses: readonly LinkAddress[];
}

/** struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }. */
export function ifinfomsg(index = 0, family = AF_UNSPEC): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  return b;
}

/** struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; }. */
export function ifaddrmsg(index = 0, family = AF_UNSPEC, prefixLen = 0, scope = 0): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

const SCOPES: Readonly<Record<number, LinkAddress['scope']>> = {
  0: 'global',
  200: 'site',
  253: 'link',
  254: 'host',
};

function formatMac(b: Buffer | undefined): string {
  if (!b || b.length !== 6) return '';
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Decodes an RTM_NEWLINK message (without addresses). */
export function parseLink(m: NetlinkMessage): Omit<LinkInfo, 'addresses'> {
  const p = m.payload;
  const attrs = parseAttrs(p, IFINFOMSG_LEN);
  const flags = p.readUInt32LE(8);
  return {
    index: p.readInt32LE(4),
    name: attrs.str(IFLA.IFNAME) ?? '',
    kind: attrs.nested(IFLA.LINKINFO)?.str(IFLA_INFO.KIND) ?? '',
    flags,
    up: (flags & IFF_UP) !== 0,
    loopback: (flags & IFF_LOOPBACK) !== 0,
    mac: formatMac(attrs.bytes(IFLA.ADDRESS)),
    mtu: attrs.u32(IFLA.MTU) ?? 0,
  };
}

function formatIp(family: number, b: Buffer | undefined): string | undefined {
  if (family === AF_INET && b?.length === 4) return readIpBytes('ipv4', b, 0);
  if (family === AF_INET6 && b?.length === 16) return readIpBytes('ipv6', b, 0);
  return undefined;
}

/** Decodes an RTM_NEWADDR message; undefined for families other than IPv4 and IPv6. */
export function parseAddress(m: NetlinkMessage): (LinkAddress & { index: number }) | undefined {
  const p = m.payload;
  const attrs = parseAttrs(p, IFADDRMSG_LEN);
  const family = p.readUInt8(0);
  // IFA_LOCAL is the address of the device itself (IFA_ADDRESS is the peer on point-to-point).
  const address = formatIp(family, attrs.bytes(IFA.LOCAL) ?? attrs.bytes(IFA.ADDRESS));
  if (address === undefined) return undefined;
  const scope = p.readUInt8(3);
  return {
    index: p.readUInt32LE(4),
    family: family === AF_INET ? 'ipv4' : 'ipv6',
    address,
    prefixLen: p.readUInt8(1),
    scope: SCOPES[scope] ?? scope,
  };
}

/** A link without its addresses (what one RTM_GETLINK answers). */
export type Link = Omit<LinkInfo, 'addresses'>;

/**
 * The link with this name or index on a socket (of any namespace: a socket answers for the one
 * it was created in); undefined when there is none.
 */
export function getLinkOn(s: NetlinkSocket, ref: string | number): Link | undefined {
  if (typeof ref === 'number') return getLink(s, `RTM_GETLINK ifindex ${ref}`, ref);
  checkName(ref);
  return getLink(s, `RTM_GETLINK ${ref}`, 0, ref);
}

function getLink(s: NetlinkSocket, op: string, index: number, name?: string): Link | undefined {
  try {
    const [m] = s.request({
      op,
      type: RTM.GETLINK,
      flags: 0,
      header: ifinfomsg(index),
      attrs: [
        ...(name !== undefined ? [strAttr(IFLA.IFNAME, name)] : []),
        u32Attr(IFLA.EXT_MASK, RTEXT_FILTER_SKIP_STATS),
      ],
    });
    return m ? parseLink(m) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
}

/** The addresses of a link (or of all links when index is 0). */
function getAddresses(s: NetlinkSocket, index: number): (LinkAddress & { index: number })[] {
  const replies = s.request({
    op: `RTM_GETADDR ifindex ${index}`,
    type: RTM.GETADDR,
    flags: NLM_F.DUMP,
    header: ifaddrmsg(index),
  });
  const out: (LinkAddress & { index: number })[] = [];
  for (const m of replies) {
    if (m.type !== RTM.NEWADDR) continue;
    const a = parseAddress(m);
    // Without strict checking (kernels before 4.20) the dump ignores the index: filter here.
    if (a && (index === 0 || a.index === index)) out.push(a);
  }
  return out;
}

const withAddresses = (
  s: NetlinkSocket,
  link: Omit<LinkInfo, 'addresses'> | undefined,
): LinkInfo | undefined =>
  link && {
    ...link,
    addresses: getAddresses(s, link.index).map(({ index: _, ...a }) => a),
  };

/**
 * Whether a value is a valid Linux interface name: 1 to 15 bytes (IFNAMSIZ), not `.` or `..`,
 * no NUL, `/`, `:` or whitespace (the kernel's dev_valid_name, plus ':' for aliases).
 */
export function isLinkName(name: string): boolean {
  return (
    name !== '' &&
    Buffer.byteLength(name) <= 15 &&
    name !== '.' &&
    name !== '..' &&
    !/[\0/:\s]/.test(name)
  );
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !isLinkName(name)) {
    const got = typeof name === 'string' ? JSON.stringify(name) : typeof name;
    throw new TypeError(
      `interface name must be a string of 1 to 15 bytes without NUL, '/', ':' or spaces (IFNAMSIZ), got ${got}`,
    );
  }
}

/**
 * The device called `name` in this network namespace, with its kind and addresses; undefined
 * when there is none (ENODEV). Other failures throw NetlinkError.
 */
export function inspectLink(name: string): LinkInfo | undefined {
  checkName(name);
  return withNetlink((s) => withAddresses(s, getLink(s, `RTM_GETLINK ${name}`, 0, name)));
}

/** The device with this ifindex in this network namespace, or undefined. */
export function linkByIndex(index: number): LinkInfo | undefined {
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff)
    throw new TypeError(`ifindex must be an integer from 1 to 2147483647, got ${String(index)}`);
  return withNetlink((s) => withAddresses(s, getLink(s, `RTM_GETLINK ifindex ${index}`, index)));
}

/** Every device of this network namespace with its addresses (two dumps). */
export function listLinks(): LinkInfo[] {
  return withNetlink((s) => {
    const links = s
      .request({
        op: 'RTM_GETLINK dump',
        type: RTM.GETLINK,
        flags: NLM_F.DUMP,
        header: ifinfomsg(),
        attrs: [u32Attr(IFLA.EXT_MASK, RTEXT_FILTER_SKIP_STATS)],
      })
      .filter((m) => m.type === RTM.NEWLINK)
      .map(parseLink);
    const addrs = getAddresses(s, 0);
    return links.map((l) => ({
      ...l,
      addresses: addrs.filter((a) => a.index === l.index).map(({ index: _, ...a }) => a),
    }));
  });
}
