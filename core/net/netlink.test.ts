// Message building, attribute parsing and the request/reply loop, against a fake kernel: no root.
import { describe, expect, it } from 'vitest';
import {
  ifaddrmsg,
  ifinfomsg,
  IFA,
  IFLA,
  IFLA_INFO,
  parseAddress,
  parseLink,
  RTM,
} from './link.js';
import {
  Attrs,
  encodeAttrs,
  encodeMessage,
  nestedAttr,
  NetlinkParseError,
  NLM_F,
  NLMSG,
  parseAttrs,
  parseErrorReply,
  parseMessages,
  strAttr,
  u32Attr,
  u8Attr,
  type NetlinkMessage,
} from './netlink.js';
import { NetlinkError, NetlinkSocket, type SocketCalls } from './socket.js';

const hex = (b: Buffer) => b.toString('hex');

describe('encoding', () => {
  it('builds RTM_GETLINK by name byte for byte', () => {
    const m = encodeMessage({
      type: RTM.GETLINK,
      flags: NLM_F.REQUEST,
      seq: 7,
      header: ifinfomsg(),
      attrs: [strAttr(IFLA.IFNAME, 'lo'), u32Attr(IFLA.EXT_MASK, 8)],
    });
    expect(hex(m)).toBe(
      '30000000' +
        '1200' +
        '0100' +
        '07000000' +
        '00000000' + // nlmsghdr: len 48, type, flags, seq, pid
        '00'.repeat(16) + // ifinfomsg
        '07000300' +
        '6c6f0000' + // IFLA_IFNAME "lo\0", padded to 8
        '08001d00' +
        '08000000', // IFLA_EXT_MASK
    );
  });

  it('nests attributes with NLA_F_NESTED and pads every level to 4 bytes', () => {
    const b = encodeAttrs([
      nestedAttr(IFLA.LINKINFO, [strAttr(IFLA_INFO.KIND, 'veth'), u8Attr(9, 1)]),
      u32Attr(IFLA.MTU, 1500),
    ]);
    // LINKINFO: 4 + KIND (4 + 5 → 12) + u8 (4 + 1 → 8) = 24
    expect(hex(b)).toBe(
      '18001280' + '09000100' + '7665746800000000' + '05000900' + '01000000' + '08000400dc050000',
    );
    const parsed = new Attrs(b);
    expect(parsed.nested(IFLA.LINKINFO)?.str(IFLA_INFO.KIND)).toBe('veth');
    expect(parsed.nested(IFLA.LINKINFO)?.u8(9)).toBe(1);
    expect(parsed.u32(IFLA.MTU)).toBe(1500);
    expect(parsed.all.map((a) => a.type)).toEqual([IFLA.LINKINFO, IFLA.MTU]); // flag bits masked
  });

  it('pads the family header and refuses attributes longer than 64 KiB', () => {
    const m = encodeMessage({ type: 1, flags: 0, seq: 0, header: Buffer.from([1, 2, 3]) });
    expect(m.length).toBe(20);
    expect(() => encodeAttrs([{ type: 1, value: Buffer.alloc(70_000) }])).toThrow(RangeError);
  });
});

describe('parsing', () => {
  it('splits a datagram into aligned messages', () => {
    const a = encodeMessage({ type: 16, flags: 2, seq: 1, pid: 9, header: Buffer.alloc(5) });
    const b = encodeMessage({ type: NLMSG.DONE, flags: 2, seq: 1, header: Buffer.alloc(4) });
    const ms = parseMessages(Buffer.concat([a, b]));
    expect(ms.map((m) => [m.type, m.flags, m.seq, m.pid, m.payload.length])).toEqual([
      [16, 2, 1, 9, 8],
      [NLMSG.DONE, 2, 1, 0, 4],
    ]);
  });

  it('refuses truncated or impossible messages and attributes', () => {
    const m = encodeMessage({ type: 16, flags: 0, seq: 1, header: Buffer.alloc(16) });
    expect(() => parseMessages(m.subarray(0, 20))).toThrow(NetlinkParseError);
    expect(() => parseMessages(m.subarray(0, 10))).toThrow(/trailing bytes/);
    const tiny = Buffer.from(m);
    tiny.writeUInt32LE(8, 0);
    expect(() => parseMessages(tiny)).toThrow(/claims 8 bytes/);
    const attr = encodeAttrs([u32Attr(1, 5)]);
    attr.writeUInt16LE(40, 0);
    expect(() => new Attrs(attr)).toThrow(/attribute at byte 0 claims 40 bytes/);
    expect(() => parseAttrs(Buffer.alloc(4), 16)).toThrow(/shorter than its 16-byte header/);
  });

  it('reads short or absent values as undefined', () => {
    const a = new Attrs(encodeAttrs([{ type: 1, value: Buffer.alloc(2) }, strAttr(2, 'x')]));
    expect([a.u32(1), a.u32(5), a.str(5), a.nested(5), a.str(2)]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      'x',
    ]);
  });

  it('reads an error reply, with the extended-ACK message when there is one', () => {
    const request = Buffer.alloc(16);
    request.writeUInt32LE(77, 8); // the echoed request's seq
    const errno = Buffer.alloc(4);
    errno.writeInt32LE(-19);
    const plain: NetlinkMessage = parseMessages(
      encodeMessage({
        type: NLMSG.ERROR,
        flags: 0,
        seq: 77,
        header: Buffer.concat([errno, request]),
      }),
    )[0]!;
    expect(parseErrorReply(plain)).toEqual({ errno: 19, seq: 77 });
    const ext = parseMessages(
      encodeMessage({
        type: NLMSG.ERROR,
        flags: NLM_F.CAPPED | NLM_F.ACK_TLVS,
        seq: 77,
        header: Buffer.concat([errno, request]),
        attrs: [strAttr(1, 'Unknown device type')],
      }),
    )[0]!;
    expect(parseErrorReply(ext)).toEqual({ errno: 19, seq: 77, message: 'Unknown device type' });
  });
});

function newLink(seq: number, o: { index: number; name: string; kind?: string; flags?: number }) {
  return encodeMessage({
    type: RTM.NEWLINK,
    flags: 0,
    seq,
    header: (() => {
      const h = ifinfomsg(o.index);
      h.writeUInt32LE(o.flags ?? 0, 8);
      return h;
    })(),
    attrs: [
      strAttr(IFLA.IFNAME, o.name),
      u32Attr(IFLA.MTU, 1500),
      { type: IFLA.ADDRESS, value: Buffer.from([0x02, 0, 0, 0, 0xab, 0x0c]) },
      ...(o.kind ? [nestedAttr(IFLA.LINKINFO, [strAttr(IFLA_INFO.KIND, o.kind)])] : []),
    ],
  });
}

function newAddr(
  seq: number,
  o: { index: number; family: 2 | 10; bytes: number[]; prefix: number; scope: number },
  flags = 0,
) {
  return encodeMessage({
    type: RTM.NEWADDR,
    flags,
    seq,
    header: ifaddrmsg(o.index, o.family, o.prefix, o.scope),
    attrs: [{ type: o.family === 2 ? IFA.LOCAL : IFA.ADDRESS, value: Buffer.from(o.bytes) }],
  });
}

describe('rtnetlink decoding', () => {
  it('decodes a link: index, name, kind, flags, mac, mtu', () => {
    const [m] = parseMessages(newLink(1, { index: 7, name: 'lxc1', kind: 'veth', flags: 0x1003 }));
    expect(parseLink(m!)).toEqual({
      index: 7,
      name: 'lxc1',
      kind: 'veth',
      flags: 0x1003,
      up: true,
      loopback: false,
      mac: '02:00:00:00:ab:0c',
      mtu: 1500,
    });
    const [lo] = parseMessages(newLink(1, { index: 1, name: 'lo', flags: 0x9 }));
    expect(parseLink(lo!)).toMatchObject({ kind: '', loopback: true, up: true });
  });

  it('decodes addresses: IPv4 from IFA_LOCAL, IPv6 compressed, scopes named or numeric', () => {
    const v4 = parseMessages(
      newAddr(1, { index: 3, family: 2, bytes: [10, 1, 2, 3], prefix: 24, scope: 0 }),
    )[0]!;
    expect(parseAddress(v4)).toEqual({
      index: 3,
      family: 'ipv4',
      address: '10.1.2.3',
      prefixLen: 24,
      scope: 'global',
    });
    const ll = [0xfe, 0x80, ...Array<number>(12).fill(0), 0, 1];
    const v6 = parseMessages(
      newAddr(1, { index: 3, family: 10, bytes: ll, prefix: 64, scope: 253 }),
    )[0]!;
    expect(parseAddress(v6)).toMatchObject({ address: 'fe80::1', scope: 'link', family: 'ipv6' });
    const odd = parseMessages(
      newAddr(1, { index: 3, family: 2, bytes: [1, 2, 3, 4], prefix: 8, scope: 42 }),
    )[0]!;
    expect(parseAddress(odd)?.scope).toBe(42);
    const other = parseMessages(
      newAddr(1, { index: 3, family: 10, bytes: [1, 2], prefix: 8, scope: 0 }),
    )[0]!;
    expect(parseAddress(other)).toBeUndefined();
  });
});

const MSG_PEEK = 0x2;
const EAGAIN = 11;
const EINTR = 4;

/** A kernel in a test: answers each request with the datagrams `answer` returns. */
class FakeKernel implements SocketCalls {
  readonly sent: NetlinkMessage[] = [];
  readonly queue: Buffer[] = [];
  closed = 0;
  interruptSends = 0;
  private err = 0;

  constructor(private readonly answer: (req: NetlinkMessage) => Buffer[]) {}

  socket(): number {
    return 42;
  }
  bind(): number {
    return 0;
  }
  setsockopt(): number {
    return 0;
  }
  close(): number {
    this.closed++;
    return 0;
  }
  errno(): number {
    return this.err;
  }
  sendto(_fd: number, buf: Buffer, len: number): number {
    if (this.interruptSends > 0) {
      this.interruptSends--;
      this.err = EINTR;
      return -1;
    }
    const [m] = parseMessages(buf.subarray(0, len));
    this.sent.push(m!);
    this.queue.push(...this.answer(m!));
    return len;
  }
  recv(_fd: number, buf: Buffer, len: number, flags: number): number {
    const d = this.queue[0];
    if (!d) {
      this.err = EAGAIN; // what SO_RCVTIMEO gives when nothing came
      return -1;
    }
    d.copy(buf, 0, 0, Math.min(len, d.length));
    if (flags & MSG_PEEK) return d.length; // with MSG_TRUNC: the real size
    this.queue.shift();
    return Math.min(len, d.length);
  }
}

const done = (seq: number, err = 0) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(err);
  return encodeMessage({ type: NLMSG.DONE, flags: NLM_F.MULTI, seq, header: b });
};

const errorReply = (req: NetlinkMessage, errno: number, text?: string) => {
  const e = Buffer.alloc(20);
  e.writeInt32LE(-errno, 0);
  e.writeUInt32LE(req.seq, 12);
  return encodeMessage({
    type: NLMSG.ERROR,
    flags: text ? NLM_F.CAPPED | NLM_F.ACK_TLVS : NLM_F.CAPPED,
    seq: req.seq,
    header: e,
    ...(text ? { attrs: [strAttr(1, text)] } : {}),
  });
};

const getLink = { op: 'RTM_GETLINK x', type: RTM.GETLINK, flags: 0, header: ifinfomsg() };

describe('NetlinkSocket.request', () => {
  it('returns the answer to its own seq, skipping late replies to earlier requests', () => {
    const k = new FakeKernel((req) => [
      Buffer.concat([
        newLink(req.seq - 1, { index: 9, name: 'stale' }),
        newLink(req.seq, { index: 1, name: 'lo' }),
      ]),
    ]);
    const s = NetlinkSocket.open(0, k);
    const [m, ...rest] = s.request(getLink);
    expect(rest).toEqual([]);
    expect(parseLink(m!).name).toBe('lo');
    expect(k.sent[0]!.flags).toBe(NLM_F.REQUEST);
    const second = s.request(getLink);
    expect(second.length).toBe(1);
    expect(k.sent[1]!.seq).toBe(k.sent[0]!.seq + 1);
    s.close();
    s.close();
    expect(k.closed).toBe(1);
    expect(() => s.request(getLink)).toThrow(/socket is closed/);
  });

  it('collects a dump over several datagrams until NLMSG_DONE', () => {
    const addr = (seq: number, i: number) =>
      newAddr(
        seq,
        { index: i, family: 2, bytes: [10, 0, 0, i], prefix: 32, scope: 0 },
        NLM_F.MULTI,
      );
    const k = new FakeKernel((req) => [
      Buffer.concat([addr(req.seq, 1), addr(req.seq, 2)]),
      Buffer.concat([addr(req.seq, 3), done(req.seq)]),
    ]);
    const got = NetlinkSocket.open(0, k).request({
      op: 'RTM_GETADDR',
      type: RTM.GETADDR,
      flags: NLM_F.DUMP,
      header: ifaddrmsg(),
    });
    expect(got.map((m) => parseAddress(m)?.address)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(k.sent[0]!.flags).toBe(NLM_F.REQUEST | NLM_F.DUMP);
  });

  it('turns an error reply into NetlinkError with op, errno name and the kernel text', () => {
    const k = new FakeKernel((req) => [errorReply(req, 19)]);
    const e = (() => {
      try {
        NetlinkSocket.open(0, k).request(getLink);
      } catch (err) {
        return err;
      }
    })() as NetlinkError;
    expect(e).toBeInstanceOf(NetlinkError);
    expect([e.errno, e.code, e.message]).toEqual([19, 'ENODEV', 'netlink RTM_GETLINK x: ENODEV']);
    const k2 = new FakeKernel((req) => [errorReply(req, 95, 'Unknown device type')]);
    expect(() => NetlinkSocket.open(0, k2).request(getLink)).toThrow(
      'netlink RTM_GETLINK x: EOPNOTSUPP (Unknown device type)',
    );
  });

  it('ends an acknowledged change at the ACK, and a failed dump at DONE with its error', () => {
    const k = new FakeKernel((req) => [errorReply(req, 0)]);
    expect(
      NetlinkSocket.open(0, k).request({
        op: 'RTM_NEWLINK',
        type: RTM.NEWLINK,
        flags: NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL,
        header: ifinfomsg(),
      }),
    ).toEqual([]);
    const k2 = new FakeKernel((req) => [done(req.seq, -12)]);
    expect(() => NetlinkSocket.open(0, k2).request({ ...getLink, flags: NLM_F.DUMP })).toThrow(
      /ENOMEM/,
    );
  });

  it('receives a datagram larger than its buffer whole', () => {
    const big = 'x'.repeat(60_000);
    const k = new FakeKernel((req) => [
      encodeMessage({
        type: RTM.NEWLINK,
        flags: 0,
        seq: req.seq,
        header: ifinfomsg(5),
        attrs: [strAttr(IFLA.IFNAME, big)],
      }),
    ]);
    const [m] = NetlinkSocket.open(0, k).request(getLink);
    expect(parseLink(m!).name).toBe(big);
  });

  it('retries an interrupted send and reports a reply that never comes', () => {
    const k = new FakeKernel((req) => [newLink(req.seq, { index: 1, name: 'lo' })]);
    k.interruptSends = 2;
    expect(NetlinkSocket.open(0, k).request(getLink).length).toBe(1);
    const silent = new FakeKernel(() => []);
    expect(() => NetlinkSocket.open(0, silent).request(getLink)).toThrow(
      /RTM_GETLINK x: ETIMEDOUT \(no reply from the kernel in 5 s\)/,
    );
  });

  it('refuses a malformed reply instead of reading past it', () => {
    const k = new FakeKernel((req) => [newLink(req.seq, { index: 1, name: 'lo' }).subarray(0, 30)]);
    expect(() => NetlinkSocket.open(0, k).request(getLink)).toThrow(NetlinkParseError);
  });
});
