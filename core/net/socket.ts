// A netlink socket over the guarded libc bindings: send one request, collect its replies. The
// kernel answers rtnetlink requests (and queues the first part of a dump) inside sendto(), and
// queues each further dump part inside the recv() that drains the previous one, so a blocking
// recv returns at once; SO_RCVTIMEO only turns a reply that never comes into an error.
import { errnoName } from '../bpf/errors.js';
import { libc, SIZES, type Libc } from '../bpf/libbpf.js';
import {
  encodeMessage,
  NLM_F,
  NLMSG,
  parseErrorReply,
  parseMessages,
  type Attr,
  type NetlinkMessage,
} from './netlink.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;
const NETLINK_GET_STRICT_CHK = 12;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
const EINTR = 4;
const EAGAIN = 11;
const ETIMEDOUT = 110;

/** Netlink protocols (the third argument of socket()). */
export const NETLINK_ROUTE = 0;

/** A failed netlink operation: what was asked, the errno and the kernel's own words if any. */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  /** The errno's symbolic name (`ENODEV`). */
  readonly code: string;

  constructor(
    /** What was being done (`RTM_GETLINK eth0`, `socket`). */
    readonly op: string,
    readonly errno: number,
    /** The kernel's extended-ACK message. */
    readonly detail?: string,
  ) {
    super(`netlink ${op}: ${errnoName(errno)}${detail ? ` (${detail})` : ''}`);
    this.code = errnoName(errno);
  }
}

/** One request: its message type, flags beyond REQUEST, family header and attributes. */
export interface Request {
  /** For error messages (`RTM_GETLINK eth0`). */
  readonly op: string;
  readonly type: number;
  /** NLM_F.DUMP for a dump, NLM_F.ACK (and CREATE/EXCL...) for a change. */
  readonly flags: number;
  readonly header: Buffer;
  readonly attrs?: readonly Attr[];
}

/** The libc calls a socket makes (the guarded bindings; a fake kernel in tests). */
export type SocketCalls = Pick<
  Libc,
  'socket' | 'bind' | 'setsockopt' | 'sendto' | 'recv' | 'close' | 'errno'
>;

/** How long a reply may take before recv gives up: it is normally queued before recv runs. */
const REPLY_TIMEOUT_S = 5;

/** A NETLINK_ROUTE (or other protocol) socket; close() it, or use withNetlink(). */
export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private buf = Buffer.alloc(32 * 1024);
  private closed = false;

  private constructor(
    private readonly lib: SocketCalls,
    private readonly fd: number,
  ) {}

  /** Opens and binds a socket (the kernel picks the port id). */
  static open(protocol = NETLINK_ROUTE, lib: SocketCalls = libc()): NetlinkSocket {
    const fd = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new NetlinkError('socket', lib.errno());
    const s = new NetlinkSocket(lib, fd);
    try {
      const addr = { nl_family: AF_NETLINK, nl_pid: 0, nl_groups: 0 };
      if (lib.bind(fd, addr, SIZES.sockaddrNl) < 0) throw new NetlinkError('bind', lib.errno());
      const timeout = Buffer.alloc(16); // struct timeval { long tv_sec; long tv_usec; }
      timeout.writeBigInt64LE(BigInt(REPLY_TIMEOUT_S), 0);
      if (lib.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length) < 0)
        throw new NetlinkError('setsockopt SO_RCVTIMEO', lib.errno());
      // Both are refinements older kernels lack: the kernel's error text, and dumps that honour
      // the request's filters. Neither is needed for correctness, so failing them is fine.
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      lib.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, one.length);
      lib.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, one, one.length);
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * Sends a request and returns the replies to it: the one answer, every part of a dump, or
   * nothing for an acknowledged change. An error reply throws NetlinkError.
   */
  request(r: Request): NetlinkMessage[] {
    if (this.closed) throw new Error(`netlink ${r.op}: socket is closed`);
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const msg = encodeMessage({
      type: r.type,
      flags: NLM_F.REQUEST | r.flags,
      seq,
      header: r.header,
      ...(r.attrs ? { attrs: r.attrs } : {}),
    });
    const dest = { nl_family: AF_NETLINK, nl_pid: 0, nl_groups: 0 };
    for (;;) {
      const n = this.lib.sendto(this.fd, msg, msg.length, 0, dest, SIZES.sockaddrNl);
      if (n >= 0) break;
      const errno = this.lib.errno();
      if (errno !== EINTR) throw new NetlinkError(r.op, errno);
    }
    const dump = (r.flags & NLM_F.DUMP) === NLM_F.DUMP;
    const out: NetlinkMessage[] = [];
    for (;;) {
      for (const m of parseMessages(this.receive(r.op))) {
        if (m.seq !== seq) continue; // a late reply to an earlier, abandoned request
        if (m.type === NLMSG.ERROR) {
          const e = parseErrorReply(m);
          if (e.errno !== 0) throw new NetlinkError(r.op, e.errno, e.message);
          return out; // the ACK ends the exchange
        }
        if (m.type === NLMSG.DONE) {
          const err = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
          if (err > 0) throw new NetlinkError(r.op, err);
          if (m.flags & NLM_F.DUMP_INTR)
            throw new NetlinkError(r.op, EINTR, 'the dump was interrupted by a change; retry');
          return out;
        }
        if (m.type === NLMSG.NOOP) continue;
        out.push(m);
        // A plain answer ends the exchange, unless an ACK was asked for (it follows).
        if (!dump && !(m.flags & NLM_F.MULTI) && !(r.flags & NLM_F.ACK)) return out;
      }
    }
  }

  /** Receives one datagram whole (peeking first at its size, so nothing is cut off). */
  private receive(op: string): Buffer {
    for (;;) {
      const size = this.lib.recv(this.fd, this.buf, this.buf.length, MSG_PEEK | MSG_TRUNC);
      if (size < 0) this.failRecv(op);
      else if (size > this.buf.length) this.buf = Buffer.alloc(size);
      else {
        const n = this.lib.recv(this.fd, this.buf, this.buf.length, 0);
        if (n < 0) this.failRecv(op);
        else return Buffer.from(this.buf.subarray(0, n));
      }
    }
  }

  private failRecv(op: string): void {
    const errno = this.lib.errno();
    if (errno === EINTR) return;
    if (errno === EAGAIN)
      throw new NetlinkError(op, ETIMEDOUT, `no reply from the kernel in ${REPLY_TIMEOUT_S} s`);
    throw new NetlinkError(op, errno);
  }

  /** Closes the socket; closing twice is fine. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.close(this.fd);
  }
}

/** Runs `fn` with a fresh NETLINK_ROUTE socket, closed afterwards whatever happens. */
export function withNetlink<T>(fn: (s: NetlinkSocket) => T): T {
  const s = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}
