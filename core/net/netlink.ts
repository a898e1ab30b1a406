// Netlink messages as bytes: building requests (header, family header, attributes, nested
// attributes) and parsing replies. Pure functions over Buffers, no socket: everything rtnetlink
// needs to query today and to create links, addresses and routes later.

/** Message types every netlink family shares. */
export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

/** nlmsghdr flags. Requests: REQUEST plus ACK, or DUMP for a GET of many, or the NEW flags. */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP: 0x300,
  // NEW requests
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  // NLMSG_ERROR replies
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;

const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const NLMSGERR_ATTR_MSG = 1;

/** Size of struct nlmsghdr. */
export const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute to send: raw bytes, or nested attributes. */
export interface Attr {
  readonly type: number;
  readonly value: Buffer | readonly Attr[];
}

/** A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND). */
export function strAttr(type: number, s: string): Attr {
  return { type, value: Buffer.from(`${s}\0`) };
}

/** A native-endian u32 attribute. */
export function u32Attr(type: number, v: number): Attr {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return { type, value: b };
}

/** A u8 attribute. */
export function u8Attr(type: number, v: number): Attr {
  return { type, value: Buffer.from([v & 0xff]) };
}

/** A nested attribute (IFLA_LINKINFO holding IFLA_INFO_KIND and IFLA_INFO_DATA). */
export function nestedAttr(type: number, children: readonly Attr[]): Attr {
  return { type, value: children };
}

function attrLength(a: Attr): number {
  return NLA_HDRLEN + (Buffer.isBuffer(a.value) ? a.value.length : attrsLength(a.value));
}

function attrsLength(attrs: readonly Attr[]): number {
  let n = 0;
  for (const a of attrs) n += align4(attrLength(a));
  return n;
}

function writeAttrs(out: Buffer, at: number, attrs: readonly Attr[]): number {
  let off = at;
  for (const a of attrs) {
    const len = attrLength(a);
    if (len > 0xffff)
      throw new RangeError(`netlink attribute ${a.type} is too long (${len} bytes)`);
    out.writeUInt16LE(len, off);
    if (Buffer.isBuffer(a.value)) {
      out.writeUInt16LE(a.type, off + 2);
      a.value.copy(out, off + NLA_HDRLEN);
    } else {
      out.writeUInt16LE(a.type | NLA_F_NESTED, off + 2);
      writeAttrs(out, off + NLA_HDRLEN, a.value);
    }
    off += align4(len); // the padding stays zero (Buffer.alloc)
  }
  return off;
}

/** Encodes attributes, each padded to 4 bytes. */
export function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const out = Buffer.alloc(attrsLength(attrs));
  writeAttrs(out, 0, attrs);
  return out;
}

/** A request to encode: the family's fixed header (ifinfomsg, ifaddrmsg, ...) then attributes. */
export interface NetlinkRequest {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid?: number;
  readonly header: Buffer;
  readonly attrs?: readonly Attr[];
}

/** Encodes one netlink message (struct nlmsghdr, the family header padded, the attributes). */
export function encodeMessage(r: NetlinkRequest): Buffer {
  const headerEnd = NLMSG_HDRLEN + align4(r.header.length);
  const attrs = r.attrs ?? [];
  const len = headerEnd + attrsLength(attrs);
  const out = Buffer.alloc(len);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(r.type, 4);
  out.writeUInt16LE(r.flags, 6);
  out.writeUInt32LE(r.seq >>> 0, 8);
  out.writeUInt32LE((r.pid ?? 0) >>> 0, 12);
  r.header.copy(out, NLMSG_HDRLEN);
  writeAttrs(out, headerEnd, attrs);
  return out;
}

/** One received message: its header fields and its payload (family header and attributes). */
export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  readonly payload: Buffer;
}

/** A reply the kernel would never send: cut short or with impossible lengths. */
export class NetlinkParseError extends Error {
  override readonly name = 'NetlinkParseError';
}

/** Splits a datagram into messages; throws NetlinkParseError on a malformed one. */
export function parseMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN)
      throw new NetlinkParseError(`netlink: ${buf.length - off} trailing bytes, not a message`);
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || len > buf.length - off)
      throw new NetlinkParseError(
        `netlink: message at byte ${off} claims ${len} bytes, ${buf.length - off} left`,
      );
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Parsed attributes by type (the last of a repeated type wins; `all` keeps every one). */
export class Attrs {
  private readonly byType = new Map<number, Buffer>();

  /** Every attribute in order, with the NESTED and BYTEORDER bits taken off its type. */
  readonly all: readonly { readonly type: number; readonly value: Buffer }[];

  constructor(buf: Buffer) {
    const all: { type: number; value: Buffer }[] = [];
    let off = 0;
    while (off + NLA_HDRLEN <= buf.length) {
      const len = buf.readUInt16LE(off);
      if (len < NLA_HDRLEN || len > buf.length - off)
        throw new NetlinkParseError(
          `netlink: attribute at byte ${off} claims ${len} bytes, ${buf.length - off} left`,
        );
      const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
      const value = buf.subarray(off + NLA_HDRLEN, off + len);
      all.push({ type, value });
      this.byType.set(type, value);
      off += align4(len);
    }
    this.all = all;
  }

  /** The raw value of an attribute. */
  bytes(type: number): Buffer | undefined {
    return this.byType.get(type);
  }

  /** A NUL-terminated string attribute. */
  str(type: number): string | undefined {
    const v = this.byType.get(type);
    if (!v) return undefined;
    const nul = v.indexOf(0);
    return v.toString('utf8', 0, nul < 0 ? v.length : nul);
  }

  /** A native-endian u32 attribute (undefined when absent or too short). */
  u32(type: number): number | undefined {
    const v = this.byType.get(type);
    return v && v.length >= 4 ? v.readUInt32LE(0) : undefined;
  }

  /** A u8 attribute. */
  u8(type: number): number | undefined {
    const v = this.byType.get(type);
    return v && v.length >= 1 ? v.readUInt8(0) : undefined;
  }

  /** The attributes nested inside an attribute. */
  nested(type: number): Attrs | undefined {
    const v = this.byType.get(type);
    return v ? new Attrs(v) : undefined;
  }
}

/** Parses the attributes that follow a family header of `headerLen` bytes in a payload. */
export function parseAttrs(payload: Buffer, headerLen: number): Attrs {
  if (payload.length < headerLen)
    throw new NetlinkParseError(
      `netlink: payload of ${payload.length} bytes is shorter than its ${headerLen}-byte header`,
    );
  return new Attrs(payload.subarray(align4(headerLen)));
}

/** What an NLMSG_ERROR carries: the errno (0 for an ACK) and the kernel's extended message. */
export interface NetlinkErrorReply {
  readonly errno: number;
  /** The seq of the request it answers. */
  readonly seq: number;
  readonly message?: string;
}

/** Parses an NLMSG_ERROR payload (struct nlmsgerr, then extended-ACK attributes if flagged). */
export function parseErrorReply(m: NetlinkMessage): NetlinkErrorReply {
  const p = m.payload;
  if (p.length < 4 + NLMSG_HDRLEN)
    throw new NetlinkParseError(`netlink: error reply of ${p.length} bytes is too short`);
  const errno = -p.readInt32LE(0);
  const seq = p.readUInt32LE(4 + 8);
  if (!(m.flags & NLM_F.ACK_TLVS)) return { errno, seq };
  // The request is echoed unless CAPPED (then only its header); the TLVs follow it.
  const echoed = m.flags & NLM_F.CAPPED ? NLMSG_HDRLEN : p.readUInt32LE(4);
  const tlvs = p.subarray(Math.min(p.length, 4 + align4(echoed)));
  const message = new Attrs(tlvs).str(NLMSGERR_ATTR_MSG);
  return message ? { errno, seq, message } : { errno, seq };
}
