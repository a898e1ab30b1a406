// Changes over rtnetlink: veth pairs (the peer created straight in another namespace), link
// state, MTU and name, addresses, routes and neighbours. Each function works on the namespace of
// the socket it is given (a socket stays in the namespace it was created in: open one inside
// withNetns to change a pod's namespace from outside it), waits for the kernel's ACK, and throws
// NetlinkError naming the device or address and the errno.
import { closeSync, openSync } from 'node:fs';
import { parseIp, readIpBytes, writeIpBytes, type Family } from '../ip.js';
import {
  getLinkOn,
  IFA,
  IFLA,
  IFLA_INFO,
  ifaddrmsg,
  ifinfomsg,
  isLinkName,
  RTM,
  type Link,
} from './link.js';
import {
  encodeAttrs,
  nestedAttr,
  NLM_F,
  parseAttrs,
  strAttr,
  u32Attr,
  u8Attr,
  type Attr,
} from './netlink.js';
import { NetlinkError, type NetlinkSocket } from './socket.js';

const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;
const ENODEV = 19;
const VETH_INFO_PEER = 1;
const IFA_F_NODAD = 0x02;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, METRICS: 8, TABLE: 15 } as const;
const RTAX_MTU = 2;
const NDA = { DST: 1, LLADDR: 2 } as const;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3; // what `ip route add` marks its routes with
const RTN_UNICAST = 1;
const NUD_PERMANENT = 0x80;

/** RT_SCOPE_* values a route may carry. */
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254, NOWHERE: 255 } as const;

const CHANGE = NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL;

/** A link by name, by index, or as returned by getLinkOn / addVeth (index used, name shown). */
export type LinkRef = string | number | { readonly index: number; readonly name: string };

function label(ref: LinkRef): string {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'number') return `ifindex ${ref}`;
  return ref.name;
}

/** The ifindex of a link; a name costs one RTM_GETLINK, and a missing one throws ENODEV. */
export function linkIndex(s: NetlinkSocket, ref: LinkRef): number {
  if (typeof ref === 'number') return ref;
  if (typeof ref !== 'string') return ref.index;
  const l = getLinkOn(s, ref);
  if (!l) throw new NetlinkError(`RTM_GETLINK ${ref}`, ENODEV);
  return l.index;
}

function mustGet(s: NetlinkSocket, ref: string | number, op: string): Link {
  const l = getLinkOn(s, ref);
  if (!l) throw new NetlinkError(`${op}: read back ${label(ref)}`, ENODEV);
  return l;
}

function checkName(name: string, what: string): void {
  if (!isLinkName(name))
    throw new TypeError(
      `${what} must be 1 to 15 bytes without '/', ':' or spaces, got ${JSON.stringify(name)}`,
    );
}

function checkMtu(mtu: number | undefined, what: string): void {
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 0xffff))
    throw new TypeError(`${what} MTU must be an integer from 68 to 65535, got ${String(mtu)}`);
}

/** One end of a veth pair to create. */
export interface VethEnd {
  readonly name: string;
  readonly mtu?: number;
}

/** A veth pair: `name` here, its peer in this namespace or created directly in `peer.netns`. */
export interface VethSpec extends VethEnd {
  readonly peer: VethEnd & {
    /** The peer's namespace as a path (`/run/netns/x`, `/proc/<pid>/ns/net`, CNI_NETNS). */
    readonly netns?: string;
  };
}

/**
 * Creates a veth pair in one request (the peer placed in its namespace by IFLA_NET_NS_FD, never
 * visible in this one) and reads both ends back: their indexes, MACs and MTUs. `peerSocket` is
 * a socket of the peer's namespace (required when peer.netns is set).
 */
export function addVeth(
  s: NetlinkSocket,
  spec: VethSpec,
  peerSocket: NetlinkSocket = s,
): { readonly link: Link; readonly peer: Link } {
  checkName(spec.name, 'veth name');
  checkName(spec.peer.name, 'veth peer name');
  checkMtu(spec.mtu, `veth ${spec.name}`);
  checkMtu(spec.peer.mtu, `veth peer ${spec.peer.name}`);
  if (spec.peer.netns !== undefined && peerSocket === s)
    throw new TypeError(
      `veth ${spec.name}: a peer in ${spec.peer.netns} needs a socket of that namespace`,
    );
  const op = `RTM_NEWLINK veth ${spec.name} peer ${spec.peer.name}${spec.peer.netns ? ` in ${spec.peer.netns}` : ''}`;
  let nsFd: number | undefined;
  if (spec.peer.netns !== undefined) {
    try {
      nsFd = openSync(spec.peer.netns, 'r');
    } catch (e) {
      throw new NetlinkError(`${op}: open`, Math.abs((e as NodeJS.ErrnoException).errno ?? 0));
    }
  }
  try {
    const peerAttrs: Attr[] = [
      strAttr(IFLA.IFNAME, spec.peer.name),
      ...(spec.peer.mtu !== undefined ? [u32Attr(IFLA.MTU, spec.peer.mtu)] : []),
      ...(nsFd !== undefined ? [u32Attr(IFLA.NET_NS_FD, nsFd)] : []),
    ];
    s.request({
      op,
      type: RTM.NEWLINK,
      flags: CHANGE,
      header: ifinfomsg(),
      attrs: [
        strAttr(IFLA.IFNAME, spec.name),
        ...(spec.mtu !== undefined ? [u32Attr(IFLA.MTU, spec.mtu)] : []),
        nestedAttr(IFLA.LINKINFO, [
          strAttr(IFLA_INFO.KIND, 'veth'),
          nestedAttr(IFLA_INFO.DATA, [
            // The peer is a struct ifinfomsg followed by its own IFLA attributes.
            { type: VETH_INFO_PEER, value: Buffer.concat([ifinfomsg(), encodeAttrs(peerAttrs)]) },
          ]),
        ]),
      ],
    });
  } finally {
    if (nsFd !== undefined) closeSync(nsFd);
  }
  return { link: mustGet(s, spec.name, op), peer: mustGet(peerSocket, spec.peer.name, op) };
}

const IFLA_VXLAN = { LEARNING: 7, PORT: 15, COLLECT_METADATA: 25 } as const;

/** A VXLAN device in external (collect-metadata) mode: BPF programs set each packet's tunnel key. */
export interface VxlanSpec {
  readonly name: string;
  /** The UDP port it sends to and listens on (8472 as Linux's and Cilium's default). */
  readonly port: number;
  readonly mtu?: number;
}

/** What a VXLAN device is, as far as an owner checks it before adopting it. */
export interface VxlanInfo {
  readonly index: number;
  readonly port: number;
  /** external / collect-metadata mode. */
  readonly external: boolean;
  readonly learning: boolean;
}

/**
 * Creates a VXLAN device in external mode with learning off, as `ip link add <name> type vxlan
 * external dstport <port> nolearning`; EEXIST when the name is taken.
 */
export function addVxlan(s: NetlinkSocket, spec: VxlanSpec): Link {
  checkName(spec.name, 'vxlan name');
  checkMtu(spec.mtu, `vxlan ${spec.name}`);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 0xffff)
    throw new TypeError(`vxlan ${spec.name}: port must be 1 to 65535, got ${String(spec.port)}`);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(spec.port); // __be16
  const op = `RTM_NEWLINK vxlan ${spec.name} external dstport ${spec.port}`;
  s.request({
    op,
    type: RTM.NEWLINK,
    flags: CHANGE,
    header: ifinfomsg(),
    attrs: [
      strAttr(IFLA.IFNAME, spec.name),
      ...(spec.mtu !== undefined ? [u32Attr(IFLA.MTU, spec.mtu)] : []),
      nestedAttr(IFLA.LINKINFO, [
        strAttr(IFLA_INFO.KIND, 'vxlan'),
        nestedAttr(IFLA_INFO.DATA, [
          u8Attr(IFLA_VXLAN.COLLECT_METADATA, 1),
          u8Attr(IFLA_VXLAN.LEARNING, 0),
          { type: IFLA_VXLAN.PORT, value: port },
        ]),
      ]),
    ],
  });
  return mustGet(s, spec.name, op);
}

/** The VXLAN settings of a device; undefined when there is no such device or it is no VXLAN. */
export function vxlanInfo(s: NetlinkSocket, name: string): VxlanInfo | undefined {
  checkName(name, 'vxlan name');
  let replies;
  try {
    replies = s.request({
      op: `RTM_GETLINK ${name}`,
      type: RTM.GETLINK,
      flags: 0,
      header: ifinfomsg(),
      attrs: [strAttr(IFLA.IFNAME, name)],
    });
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENODEV) return undefined;
    throw e;
  }
  const m = replies.find((r) => r.type === RTM.NEWLINK);
  if (!m) return undefined;
  const info = parseAttrs(m.payload, 16).nested(IFLA.LINKINFO);
  if (info?.str(IFLA_INFO.KIND) !== 'vxlan') return undefined;
  const data = info.nested(IFLA_INFO.DATA);
  const port = data?.bytes(IFLA_VXLAN.PORT);
  return {
    index: m.payload.readInt32LE(4),
    port: port && port.length === 2 ? port.readUInt16BE(0) : 0,
    external: (data?.u8(IFLA_VXLAN.COLLECT_METADATA) ?? 0) !== 0,
    learning: (data?.u8(IFLA_VXLAN.LEARNING) ?? 0) !== 0,
  };
}

function setLink(s: NetlinkSocket, ref: LinkRef, what: string, attrs: Attr[], up?: boolean): void {
  const header = ifinfomsg(linkIndex(s, ref));
  if (up !== undefined) {
    header.writeUInt32LE(up ? IFF_UP : 0, 8); // ifi_flags
    header.writeUInt32LE(IFF_UP, 12); // ifi_change: only IFF_UP
  }
  s.request({
    op: `RTM_NEWLINK ${label(ref)} ${what}`,
    type: RTM.NEWLINK,
    flags: NLM_F.ACK,
    header,
    attrs,
  });
}

/** Sets a link administratively up (or down). */
export function setLinkUp(s: NetlinkSocket, ref: LinkRef, up = true): void {
  setLink(s, ref, up ? 'up' : 'down', [], up);
}

/** Sets a link's MTU. */
export function setLinkMtu(s: NetlinkSocket, ref: LinkRef, mtu: number): void {
  checkMtu(mtu, label(ref));
  setLink(s, ref, `mtu ${mtu}`, [u32Attr(IFLA.MTU, mtu)]);
}

/** Renames a link (it must be down: the kernel refuses to rename a running device, EBUSY). */
export function renameLink(s: NetlinkSocket, ref: LinkRef, name: string): void {
  checkName(name, 'new link name');
  setLink(s, ref, `rename to ${name}`, [strAttr(IFLA.IFNAME, name)]);
}

/**
 * Deletes a link (a veth takes its peer along, a device its addresses and routes). With
 * missingOk a link that is not there is fine; returns whether one was deleted.
 */
export function delLink(
  s: NetlinkSocket,
  ref: LinkRef,
  opts: { missingOk?: boolean } = {},
): boolean {
  const byName = typeof ref === 'string';
  try {
    s.request({
      op: `RTM_DELLINK ${label(ref)}`,
      type: RTM.DELLINK,
      flags: NLM_F.ACK,
      header: ifinfomsg(byName ? 0 : linkIndex(s, ref)),
      attrs: byName ? [strAttr(IFLA.IFNAME, ref)] : [],
    });
    return true;
  } catch (e) {
    if (opts.missingOk && e instanceof NetlinkError && e.errno === ENODEV) return false;
    throw e;
  }
}

/** An IP with its prefix length: `10.0.0.5/32`, `fd00::5/128`; a bare IP is a host prefix. */
export interface Prefix {
  readonly family: Family;
  readonly ip: string;
  readonly bits: number;
  /** The address bytes in network order (4 or 16). */
  readonly bytes: Buffer;
}

/** Parses `ip/bits`, a bare IP (a host prefix) or `default` of a family. */
export function parsePrefix(cidr: string, defaultFamily?: Family): Prefix {
  if (cidr === 'default') {
    if (!defaultFamily) throw new TypeError(`'default' needs a family`);
    const n = defaultFamily === 'ipv4' ? 4 : 16;
    return {
      family: defaultFamily,
      ip: defaultFamily === 'ipv4' ? '0.0.0.0' : '::',
      bits: 0,
      bytes: Buffer.alloc(n),
    };
  }
  const [ip = '', bitsText, ...rest] = cidr.split('/');
  const p = parseIp(ip);
  const max = p?.family === 'ipv4' ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (
    !p ||
    rest.length > 0 ||
    (bitsText !== undefined && !/^\d+$/.test(bitsText)) ||
    !Number.isInteger(bits) ||
    bits < 0 ||
    bits > max
  )
    throw new TypeError(
      `not an IP prefix: ${JSON.stringify(cidr)} (want 10.0.0.5/32 or fd00::5/128)`,
    );
  const bytes = Buffer.alloc(max / 8);
  writeIpBytes(ip, bytes, 0, p.family === 'ipv4' ? 4 : 16);
  return { family: p.family, ip, bits, bytes };
}

const af = (f: Family): number => (f === 'ipv4' ? AF_INET : AF_INET6);

function address(s: NetlinkSocket, add: boolean, ref: LinkRef, cidr: string, nodad: boolean): void {
  const p = parsePrefix(cidr);
  const header = ifaddrmsg(linkIndex(s, ref), af(p.family), p.bits);
  if (nodad && p.family === 'ipv6') header.writeUInt8(IFA_F_NODAD, 2);
  s.request({
    op: `${add ? 'RTM_NEWADDR' : 'RTM_DELADDR'} ${p.ip}/${p.bits} dev ${label(ref)}`,
    type: add ? RTM.NEWADDR : RTM.DELADDR,
    flags: add ? CHANGE : NLM_F.ACK,
    header,
    // As `ip addr add` without a peer: the local address and the address are the same.
    attrs: [
      { type: IFA.LOCAL, value: p.bytes },
      { type: IFA.ADDRESS, value: p.bytes },
    ],
  });
}

/**
 * Adds an address (`10.0.0.5/32`) to a link; EEXIST if it is there already. `nodad` (IPv6)
 * skips duplicate address detection, so the address is usable at once (`ip addr add ... nodad`).
 */
export function addAddress(
  s: NetlinkSocket,
  ref: LinkRef,
  cidr: string,
  opts: { nodad?: boolean } = {},
): void {
  address(s, true, ref, cidr, opts.nodad ?? false);
}

/** Deletes an address from a link (EADDRNOTAVAIL when it has none such). */
export function delAddress(s: NetlinkSocket, ref: LinkRef, cidr: string): void {
  address(s, false, ref, cidr, false);
}

/**
 * A route in the main table, as `ip route add <dst> [via <gateway>] [dev <dev>] [scope link]
 * [proto <n>] [mtu <n>]`.
 */
export interface RouteSpec {
  /** `10.0.0.5/32`, a bare IP, or `default` (the family then comes from the gateway). */
  readonly dst: string;
  /** The device; without one (a gateway is then needed) the kernel finds it from the gateway. */
  readonly dev?: LinkRef;
  readonly gateway?: string;
  /** Default as `ip` picks it: link for a route without gateway, universe with one. */
  readonly scope?: number;
  /** RTPROT_* the route is marked with (default 3, boot, as `ip route add`). */
  readonly protocol?: number;
  /** The route's MTU metric (`mtu <n>`): what TCP and PMTU use on this path. */
  readonly mtu?: number;
}

function route(s: NetlinkSocket, type: number, flags: number, r: RouteSpec): void {
  const gw = r.gateway === undefined ? undefined : parsePrefix(r.gateway);
  const dst = parsePrefix(r.dst, gw?.family);
  if (gw && (gw.family !== dst.family || gw.bits !== gw.bytes.length * 8))
    throw new TypeError(`route ${r.dst}: gateway ${r.gateway} is not an ${dst.family} address`);
  const del = type === RTM.DELROUTE;
  if (r.dev === undefined && !gw)
    throw new TypeError(`route ${r.dst}: needs a device or a gateway`);
  checkMtu(r.mtu, `route ${r.dst}`);
  const scope = r.scope ?? (del ? RT_SCOPE.NOWHERE : gw ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK);
  const header = Buffer.alloc(12); // struct rtmsg
  header.writeUInt8(af(dst.family), 0);
  header.writeUInt8(dst.bits, 1);
  header.writeUInt8(RT_TABLE_MAIN, 4);
  header.writeUInt8(r.protocol ?? (del ? 0 : RTPROT_BOOT), 5);
  header.writeUInt8(scope, 6);
  header.writeUInt8(del ? 0 : RTN_UNICAST, 7);
  const dstText = dst.bits === 0 ? 'default' : `${dst.ip}/${dst.bits}`;
  s.request({
    op: `${del ? 'RTM_DELROUTE' : 'RTM_NEWROUTE'} ${dstText}${gw ? ` via ${gw.ip}` : ''}${r.dev !== undefined ? ` dev ${label(r.dev)}` : ''}`,
    type,
    flags,
    header,
    attrs: [
      ...(dst.bits > 0 ? [{ type: RTA.DST, value: dst.bytes }] : []),
      ...(gw ? [{ type: RTA.GATEWAY, value: gw.bytes }] : []),
      ...(r.dev !== undefined ? [u32Attr(RTA.OIF, linkIndex(s, r.dev))] : []),
      ...(r.mtu !== undefined ? [nestedAttr(RTA.METRICS, [u32Attr(RTAX_MTU, r.mtu)])] : []),
    ],
  });
}

/** Adds a route (EEXIST if one to the same destination is there); `replace` overwrites it. */
export function addRoute(s: NetlinkSocket, r: RouteSpec, opts: { replace?: boolean } = {}): void {
  const flags = opts.replace ? NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE : CHANGE;
  route(s, RTM.NEWROUTE, flags, r);
}

/** Deletes a route (ESRCH when there is none such). */
export function delRoute(s: NetlinkSocket, r: RouteSpec): void {
  route(s, RTM.DELROUTE, NLM_F.ACK, r);
}

/** A route of the main table as a dump reports it. */
export interface RouteInfo {
  readonly family: Family;
  /** `10.0.0.0/24`, or `default`. */
  readonly dst: string;
  readonly gateway?: string;
  /** The output device's index (0 when the route has none, e.g. a multipath route). */
  readonly oif: number;
  readonly protocol: number;
  readonly scope: number;
  /** The MTU metric, when the route has one. */
  readonly mtu?: number;
}

/**
 * The unicast routes of the main table of one family, optionally only those marked with
 * `protocol` (how an owner finds its own routes again, e.g. after a restart).
 */
export function listRoutes(
  s: NetlinkSocket,
  family: Family,
  opts: { readonly protocol?: number } = {},
): RouteInfo[] {
  const header = Buffer.alloc(12);
  header.writeUInt8(af(family), 0);
  const replies = s.request({
    op: `RTM_GETROUTE dump ${family}`,
    type: RTM.GETROUTE,
    flags: NLM_F.DUMP,
    header,
  });
  const out: RouteInfo[] = [];
  for (const m of replies) {
    if (m.type !== RTM.NEWROUTE || m.payload.length < 12) continue;
    const p = m.payload;
    if (p.readUInt8(0) !== af(family) || p.readUInt8(7) !== RTN_UNICAST) continue;
    const protocol = p.readUInt8(5);
    if (opts.protocol !== undefined && protocol !== opts.protocol) continue;
    const attrs = parseAttrs(p, 12);
    const table = attrs.u32(RTA.TABLE) ?? p.readUInt8(4);
    if (table !== RT_TABLE_MAIN) continue;
    const bytes = family === 'ipv4' ? 4 : 16;
    const text = (b: Buffer | undefined): string | undefined =>
      b && b.length === bytes ? readIpBytes(family, b, 0) : undefined;
    const bits = p.readUInt8(1);
    const dst = text(attrs.bytes(RTA.DST));
    const gateway = text(attrs.bytes(RTA.GATEWAY));
    const mtu = attrs.nested(RTA.METRICS)?.u32(RTAX_MTU);
    out.push({
      family,
      dst: bits === 0 || dst === undefined ? 'default' : `${dst}/${bits}`,
      ...(gateway !== undefined ? { gateway } : {}),
      oif: attrs.u32(RTA.OIF) ?? 0,
      protocol,
      scope: p.readUInt8(6),
      ...(mtu !== undefined ? { mtu } : {}),
    });
  }
  return out;
}

function ndmsg(family: Family, index: number, state: number): Buffer {
  const b = Buffer.alloc(12); // struct ndmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u16 state; u8 flags; u8 type; }
  b.writeUInt8(af(family), 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  return b;
}

function macBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))
    throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

/** Adds (or replaces) a permanent neighbour entry: `ip neigh replace <ip> lladdr <mac> dev <dev> nud permanent`. */
export function addNeighbour(s: NetlinkSocket, ref: LinkRef, ip: string, mac: string): void {
  const p = parsePrefix(ip);
  s.request({
    op: `RTM_NEWNEIGH ${p.ip} lladdr ${mac} dev ${label(ref)}`,
    type: RTM.NEWNEIGH,
    flags: NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE,
    header: ndmsg(p.family, linkIndex(s, ref), NUD_PERMANENT),
    attrs: [
      { type: NDA.DST, value: p.bytes },
      { type: NDA.LLADDR, value: macBytes(mac) },
    ],
  });
}

/** Deletes a neighbour entry (ENOENT when there is none). */
export function delNeighbour(s: NetlinkSocket, ref: LinkRef, ip: string): void {
  const p = parsePrefix(ip);
  s.request({
    op: `RTM_DELNEIGH ${p.ip} dev ${label(ref)}`,
    type: RTM.DELNEIGH,
    flags: NLM_F.ACK,
    header: ndmsg(p.family, linkIndex(s, ref), 0),
    attrs: [{ type: NDA.DST, value: p.bytes }],
  });
}
