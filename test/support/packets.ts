import { writeIp } from '../../core/bpf/index.js';

function eth(proto: number): Buffer {
  const b = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]).copy(b);
  b.writeUInt16BE(proto, 12);
  return b;
}

/** An Ethernet + IPv4 + UDP frame. */
export function ipv4Udp(src: string, dst: string, payload = 32): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload, 2);
  ip[8] = 64;
  ip[9] = 17;
  writeIp(src, ip, 12, 4);
  writeIp(dst, ip, 16, 4);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const udp = Buffer.alloc(8 + payload);
  udp.writeUInt16BE(5000, 0);
  udp.writeUInt16BE(53, 2);
  udp.writeUInt16BE(8 + payload, 4);
  return Buffer.concat([eth(0x0800), ip, udp]);
}

/** An Ethernet + IPv6 + UDP frame. */
export function ipv6Udp(src: string, dst: string, payload = 32): Buffer {
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(8 + payload, 4);
  ip[6] = 17;
  ip[7] = 64;
  writeIp(src, ip, 8, 16);
  writeIp(dst, ip, 24, 16);
  return Buffer.concat([eth(0x86dd), ip, Buffer.alloc(8 + payload)]);
}

/** A frame that is neither IPv4 nor IPv6 nor ARP (an LLDP-like ethertype). */
export function otherFrame(): Buffer {
  return Buffer.concat([eth(0x88cc), Buffer.alloc(28, 1)]);
}

/** An ARP request: who has `target`? tell `sender` (at `senderMac`). */
export function arpRequest(sender: string, senderMac: string, target: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0); // Ethernet
  a.writeUInt16BE(0x0800, 2); // IPv4
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6); // request
  Buffer.from(senderMac.split(':').map((x) => parseInt(x, 16))).copy(a, 8);
  writeIp(sender, a, 14, 4);
  writeIp(target, a, 24, 4);
  const frame = Buffer.concat([eth(0x0806), a]);
  frame.fill(0xff, 0, 6);
  a.copy(frame, 6, 8, 14); // the Ethernet source is the sender
  return frame;
}

/** The IPv4 header checksum over a frame's IP header (0 when it is right). */
export function ipv4HeaderChecksum(frame: Buffer): number {
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += frame.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

/**
 * An IPv4 frame whose header claims 16 bytes (IHL 4, below the minimum of 5). The kernel's
 * test-run refuses frames shorter than an IP header outright (EINVAL), so this is how a
 * malformed header reaches the program's own checks.
 */
export function malformedIpv4(): Buffer {
  const f = ipv4Udp('10.0.0.1', '10.0.0.2');
  f[14] = 0x44;
  return f;
}

/** TCP flag bits (byte 13 of the TCP header). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** What an L4 frame carries. */
export interface L4FrameSpec {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  /** TCP only: TCP_FLAG bits (SYN by default). */
  readonly flags?: number;
  /** Payload bytes (zeros) or the payload itself. */
  readonly payload?: number | Buffer;
  /** UDP over IPv4 only: leave the checksum 0 ("none computed"). */
  readonly noChecksum?: boolean;
  /** The IPv4 TTL or IPv6 hop limit (64 by default). */
  readonly ttl?: number;
}

const PROTO_TCP = 6;
const PROTO_UDP = 17;

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function sum16(buf: Buffer, sum = 0): number {
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += (buf[buf.length - 1] ?? 0) << 8;
  return fold(sum);
}

function pseudoHeader(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  const tail = Buffer.alloc(src.length === 4 ? 4 : 8);
  if (src.length === 4) {
    tail[1] = proto;
    tail.writeUInt16BE(len, 2);
  } else {
    tail.writeUInt32BE(len, 0);
    tail[7] = proto;
  }
  return Buffer.concat([src, dst, tail]);
}

function l4Segment(proto: number, s: L4FrameSpec, src: Buffer, dst: Buffer): Buffer {
  const payload =
    typeof s.payload === 'number' || s.payload === undefined
      ? Buffer.alloc(s.payload ?? 0)
      : s.payload;
  const hdr = Buffer.alloc(proto === PROTO_TCP ? 20 : 8);
  hdr.writeUInt16BE(s.sport, 0);
  hdr.writeUInt16BE(s.dport, 2);
  if (proto === PROTO_TCP) {
    hdr.writeUInt32BE(1000, 4); // sequence number
    hdr[12] = 5 << 4; // data offset: 5 words
    hdr[13] = s.flags ?? TCP_FLAG.SYN;
    hdr.writeUInt16BE(64240, 14); // window
  } else {
    hdr.writeUInt16BE(8 + payload.length, 4);
  }
  const seg = Buffer.concat([hdr, payload]);
  if (proto === PROTO_UDP && s.noChecksum && src.length === 4) return seg;
  let csum = ~sum16(seg, sum16(pseudoHeader(src, dst, proto, seg.length))) & 0xffff;
  if (proto === PROTO_UDP && csum === 0) csum = 0xffff;
  seg.writeUInt16BE(csum, proto === PROTO_TCP ? 16 : 6);
  return seg;
}

function ipBytes(ip: string, width: 4 | 16): Buffer {
  const b = Buffer.alloc(width);
  writeIp(ip, b, 0, width);
  return b;
}

function ipv4Frame(proto: number, s: L4FrameSpec): Buffer {
  const src = ipBytes(s.src, 4);
  const dst = ipBytes(s.dst, 4);
  const seg = l4Segment(proto, s, src, dst);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + seg.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = s.ttl ?? 64;
  ip[9] = proto;
  src.copy(ip, 12);
  dst.copy(ip, 16);
  ip.writeUInt16BE(~sum16(ip) & 0xffff, 10);
  return Buffer.concat([eth(0x0800), ip, seg]);
}

function ipv6Frame(proto: number, s: L4FrameSpec): Buffer {
  const src = ipBytes(s.src, 16);
  const dst = ipBytes(s.dst, 16);
  const seg = l4Segment(proto, s, src, dst);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(seg.length, 4);
  ip[6] = proto;
  ip[7] = s.ttl ?? 64;
  src.copy(ip, 8);
  dst.copy(ip, 24);
  return Buffer.concat([eth(0x86dd), ip, seg]);
}

/** An Ethernet + IPv4 + TCP frame (checksums right). */
export const ipv4Tcp = (s: L4FrameSpec): Buffer => ipv4Frame(PROTO_TCP, s);
/** An Ethernet + IPv6 + TCP frame (checksum right). */
export const ipv6Tcp = (s: L4FrameSpec): Buffer => ipv6Frame(PROTO_TCP, s);
/** An Ethernet + IPv4 + UDP frame with the given ports (checksum right, or 0 with noChecksum). */
export const ipv4UdpFlow = (s: L4FrameSpec): Buffer => ipv4Frame(PROTO_UDP, s);
/** An Ethernet + IPv6 + UDP frame with the given ports (checksum right). */
export const ipv6UdpFlow = (s: L4FrameSpec): Buffer => ipv6Frame(PROTO_UDP, s);

/** What an ICMPv6 message carries. */
export interface Icmp6FrameSpec {
  readonly src: string;
  readonly dst: string;
  readonly type: number;
  readonly code?: number;
  /** The 4 bytes after the checksum: an echo's identifier and sequence number (0 by default). */
  readonly rest?: number;
  /** What follows them: an error's quoted packet, a neighbour solicitation's target, ... */
  readonly body?: Buffer;
  /** The hop limit (64 by default; neighbour discovery sends 255). */
  readonly ttl?: number;
}

const PROTO_ICMPV6 = 58;

/** An Ethernet + IPv6 + ICMPv6 frame (checksum right). */
export function ipv6Icmp(s: Icmp6FrameSpec): Buffer {
  const src = ipBytes(s.src, 16);
  const dst = ipBytes(s.dst, 16);
  const msg = Buffer.concat([Buffer.alloc(8), s.body ?? Buffer.alloc(0)]);
  msg[0] = s.type;
  msg[1] = s.code ?? 0;
  msg.writeUInt32BE((s.rest ?? 0) >>> 0, 4);
  const csum = ~sum16(msg, sum16(pseudoHeader(src, dst, PROTO_ICMPV6, msg.length))) & 0xffff;
  msg.writeUInt16BE(csum, 2);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(msg.length, 4);
  ip[6] = PROTO_ICMPV6;
  ip[7] = s.ttl ?? 64;
  src.copy(ip, 8);
  dst.copy(ip, 24);
  return Buffer.concat([eth(0x86dd), ip, msg]);
}

/** An Ethernet + IPv6 + ICMPv6 echo request (identifier `id`, sequence number `seq`). */
export const ipv6IcmpEcho = (src: string, dst: string, id: number, seq = 1): Buffer =>
  ipv6Icmp({ src, dst, type: 128, rest: ((id & 0xffff) << 16) | (seq & 0xffff) });

/** An Ethernet + IPv4 + ICMP echo request (identifier `id`, sequence number `seq`; checksums right). */
export function ipv4IcmpEcho(src: string, dst: string, id: number, seq = 1): Buffer {
  const msg = Buffer.alloc(16);
  msg[0] = 8;
  msg.writeUInt16BE(id & 0xffff, 4);
  msg.writeUInt16BE(seq & 0xffff, 6);
  msg.writeUInt16BE(~sum16(msg) & 0xffff, 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + msg.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  ipBytes(src, 4).copy(ip, 12);
  ipBytes(dst, 4).copy(ip, 16);
  ip.writeUInt16BE(~sum16(ip) & 0xffff, 10);
  return Buffer.concat([eth(0x0800), ip, msg]);
}

/** The addresses, ports and flags of an Ethernet + IPv4/IPv6 + TCP/UDP frame. */
export interface ParsedFrame {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
  /** TCP flags (0 for UDP). */
  readonly flags: number;
  /** Where the L4 header starts. */
  readonly l4: number;
  /** The IPv4 TTL or IPv6 hop limit. */
  readonly ttl: number;
  /** The Ethernet destination and source, as aa:bb:cc:dd:ee:ff. */
  readonly dmac: string;
  readonly smac: string;
}

function ipText(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i).toString(16));
  // Not compressed: tests compare with addresses normalised the same way (normalizeIp).
  return words.join(':');
}

function macText(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** An IPv6 address written out in full, lowercase, as parseFrame prints it. */
export function normalizeIp(ip: string): string {
  return ip.includes(':') ? ipText(ipBytes(ip, 16)) : ip;
}

/** Reads a frame built by the functions above (or rewritten by a program). */
export function parseFrame(frame: Buffer): ParsedFrame {
  const v6 = frame.readUInt16BE(12) === 0x86dd;
  const proto = v6 ? (frame[20] ?? 0) : (frame[23] ?? 0);
  const l4 = v6 ? 54 : 14 + ((frame[14] ?? 0) & 0x0f) * 4;
  return {
    family: v6 ? 6 : 4,
    src: ipText(v6 ? frame.subarray(22, 38) : frame.subarray(26, 30)),
    dst: ipText(v6 ? frame.subarray(38, 54) : frame.subarray(30, 34)),
    proto,
    sport: frame.readUInt16BE(l4),
    dport: frame.readUInt16BE(l4 + 2),
    flags: proto === PROTO_TCP ? (frame[l4 + 13] ?? 0) : 0,
    l4,
    ttl: (v6 ? frame[21] : frame[22]) ?? 0,
    dmac: macText(frame.subarray(0, 6)),
    smac: macText(frame.subarray(6, 12)),
  };
}

/**
 * The TCP/UDP checksum check of a frame over its pseudo header: 0 when the checksum is right
 * (an IPv4 UDP checksum of 0, "none", counts as right: see udpChecksumField).
 */
export function l4ChecksumCheck(frame: Buffer): number {
  const f = parseFrame(frame);
  const v6 = f.family === 6;
  const src = v6 ? frame.subarray(22, 38) : frame.subarray(26, 30);
  const dst = v6 ? frame.subarray(38, 54) : frame.subarray(30, 34);
  const len = v6 ? frame.readUInt16BE(18) : frame.readUInt16BE(16) - (f.l4 - 14);
  const seg = frame.subarray(f.l4, f.l4 + len);
  if (!v6 && f.proto === PROTO_UDP && seg.readUInt16BE(6) === 0) return 0;
  return (
    ~sum16(seg, sum16(pseudoHeader(Buffer.from(src), Buffer.from(dst), f.proto, len))) & 0xffff
  );
}

/** The checksum field of a UDP frame as it is (0: none computed). */
export function udpChecksumField(frame: Buffer): number {
  return frame.readUInt16BE(parseFrame(frame).l4 + 6);
}
