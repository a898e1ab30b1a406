// The TTL (IPv4) / hop limit (IPv6) of a TCP socket's packets: node:net has no option for it,
// so it is set on the socket's fd through the guarded libc bindings (BGP's eBGP TTL, RFC 4271).
import type { Socket } from 'node:net';
import { errnoName } from '../bpf/errors.js';
import { libc } from '../bpf/libbpf.js';

const IPPROTO_IP = 0;
const IP_TTL = 2;
const IPPROTO_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;

/** The kernel fd behind a connected node:net socket; undefined when it has none (yet). */
export function socketFd(s: Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Sets the TTL of the socket's outgoing packets (1..255). An IPv6 socket gets the hop limit
 * too: one accepted on a dual-stack listener may carry IPv4 (mapped) or IPv6. Throws an Error
 * naming the socket option and errno when the kernel refuses.
 */
export function setSocketTtl(s: Socket, ttl: number): void {
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new Error(`TTL ${ttl} is not 1..255`);
  const fd = socketFd(s);
  if (fd === undefined) throw new Error('socket has no file descriptor (not connected)');
  const lib = libc();
  const v = Buffer.alloc(4);
  v.writeInt32LE(ttl);
  if (lib.setsockopt(fd, IPPROTO_IP, IP_TTL, v, v.length) < 0) {
    throw new Error(`setsockopt IP_TTL ${ttl}: ${errnoName(lib.errno())}`);
  }
  if (s.remoteFamily === 'IPv6' || s.localAddress?.includes(':')) {
    if (lib.setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, v, v.length) < 0) {
      throw new Error(`setsockopt IPV6_UNICAST_HOPS ${ttl}: ${errnoName(lib.errno())}`);
    }
  }
}

/** The TTL (IP_TTL) or, for `ipv6`, the hop limit (IPV6_UNICAST_HOPS) the kernel has for the socket. */
export function getSocketTtl(s: Socket, family: 'ipv4' | 'ipv6' = 'ipv4'): number {
  const fd = socketFd(s);
  if (fd === undefined) throw new Error('socket has no file descriptor (not connected)');
  const lib = libc();
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4);
  const [level, name] =
    family === 'ipv4' ? [IPPROTO_IP, IP_TTL] : [IPPROTO_IPV6, IPV6_UNICAST_HOPS];
  if (lib.getsockopt(fd, level, name, v, len) < 0) {
    throw new Error(`getsockopt ${family} TTL: ${errnoName(lib.errno())}`);
  }
  return v.readInt32LE();
}
