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

/** An ARP request frame. */
export function arp(): Buffer {
  return Buffer.concat([eth(0x0806), Buffer.alloc(28, 1)]);
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
