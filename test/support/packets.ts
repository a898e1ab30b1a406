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
