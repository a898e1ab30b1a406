import { isIPv4, isIPv6 } from 'node:net';

/** A field's wire type. Integers are in host order unless `be`; hosts are little-endian (x86_64, arm64). */
export type FieldType =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64'
  | 'be16'
  | 'be32'
  | 'ipv4'
  /** 16 bytes: an IPv4 address in the first 4 (decoded as IPv4 when `family` says so) or IPv6. */
  | 'ip16'
  /** A MAC address in the first 6 of 8 bytes (Cilium's mac_t). */
  | 'mac64'
  | { readonly bytes: number }
  | { readonly pad: number };

/** A field as laid out: name, type, offset and size in bytes. */
export interface FieldInfo {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
  readonly size: number;
}

/** A C struct's layout with its encoder and decoder. */
export interface Layout<T> {
  /** The C struct name (checked against the compiled objects' BTF). */
  readonly cName: string;
  readonly size: number;
  readonly fields: readonly FieldInfo[];
  encode(value: T, buf: Buffer, offset?: number): void;
  decode(buf: Buffer, offset?: number): T;
  /** `name=value` pairs, as `cellium map get` prints them. */
  format(value: T): string;
}

/** Family values in ip16 fields' sibling `family` (Cilium's ENDPOINT_KEY_IPV4/IPV6). */
export const FAMILY_IPV4 = 1;
export const FAMILY_IPV6 = 2;

function sizeOf(t: FieldType): [size: number, align: number] {
  if (typeof t === 'object') return ['bytes' in t ? t.bytes : t.pad, 1];
  switch (t) {
    case 'u8':
      return [1, 1];
    case 'u16':
    case 'be16':
      return [2, 2];
    case 'u32':
    case 'be32':
      return [4, 4];
    case 'ipv4':
      return [4, 1];
    case 'u64':
    case 'mac64':
      return [8, 8];
    case 'ip16':
      return [16, 1];
  }
}

function writeIp4(ip: string, buf: Buffer, off: number): void {
  const parts = ip.split('.');
  for (let i = 0; i < 4; i++) buf[off + i] = Number(parts[i]);
}

function writeIp6(ip: string, buf: Buffer, off: number): void {
  let s = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4tail?.[1]) {
    const b = Buffer.alloc(4);
    writeIp4(v4tail[1], b, 0);
    s =
      s.slice(0, -v4tail[1].length) +
      `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(parseInt(groups[i] ?? '0', 16), off + i * 2);
}

/** Writes an IPv4 or IPv6 address; IPv4 takes the first 4 bytes of a 16-byte field. */
export function writeIp(ip: string, buf: Buffer, off: number, width: 4 | 16): void {
  if (isIPv4(ip)) {
    if (width === 16) buf.fill(0, off, off + 16);
    writeIp4(ip, buf, off);
  } else if (isIPv6(ip) && width === 16) writeIp6(ip, buf, off);
  else throw new Error(`'${ip}' is not an ${width === 4 ? 'IPv4' : 'IP'} address`);
}

function readIp4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

function readIp6(buf: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + i * 2));
  // Longest run of zero groups becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function readMac(buf: Buffer, off: number): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push((buf[off + i] ?? 0).toString(16).padStart(2, '0'));
  return out.join(':');
}

function writeMac(mac: string, buf: Buffer, off: number): void {
  const parts = mac.split(':');
  if (parts.length !== 6) throw new Error(`'${mac}' is not a MAC address`);
  buf.fill(0, off, off + 8);
  for (let i = 0; i < 6; i++) buf[off + i] = parseInt(parts[i] ?? '0', 16);
}

type Obj = Record<string, unknown>;

// Node's Buffer.writeBigUInt64LE splits the BigInt with BigInt arithmetic; a typed-array
// scratch converts natively and is several times faster on the hot path.
const scratch64 = new BigUint64Array(1);
const scratchBytes = new Uint8Array(scratch64.buffer);

function writeU64(x: bigint | number, b: Buffer, at: number): void {
  scratch64[0] = typeof x === 'bigint' ? x : BigInt(x);
  b.set(scratchBytes, at);
}

function readU64(b: Buffer, at: number): bigint {
  for (let i = 0; i < 8; i++) scratchBytes[i] = b[at + i] ?? 0;
  return scratch64[0] ?? 0n;
}

type Writer = (v: Obj, buf: Buffer, base: number) => void;
type Reader = (v: Obj, buf: Buffer, base: number) => void;

function writerOf(f: FieldInfo): Writer {
  const { name, offset: o, size } = f;
  switch (f.type) {
    case 'u8':
      return (v, b, base) => void (b[base + o] = v[name] as number);
    case 'u16':
      return (v, b, base) => void b.writeUInt16LE(v[name] as number, base + o);
    case 'u32':
      return (v, b, base) => void b.writeUInt32LE(v[name] as number, base + o);
    case 'u64':
      return (v, b, base) => writeU64(v[name] as bigint | number, b, base + o);
    case 'be16':
      return (v, b, base) => void b.writeUInt16BE(v[name] as number, base + o);
    case 'be32':
      return (v, b, base) => void b.writeUInt32BE(v[name] as number, base + o);
    case 'ipv4':
      return (v, b, base) => writeIp(v[name] as string, b, base + o, 4);
    case 'ip16':
      return (v, b, base) => writeIp(v[name] as string, b, base + o, 16);
    case 'mac64':
      return (v, b, base) => writeMac(v[name] as string, b, base + o);
    default:
      return (v, b, base) => {
        b.fill(0, base + o, base + o + size);
        (v[name] as Buffer).copy(b, base + o, 0, size);
      };
  }
}

function readerOf(f: FieldInfo): Reader {
  const { name, offset: o, size } = f;
  switch (f.type) {
    case 'u8':
      return (v, b, base) => void (v[name] = b[base + o]);
    case 'u16':
      return (v, b, base) => void (v[name] = b.readUInt16LE(base + o));
    case 'u32':
      return (v, b, base) => void (v[name] = b.readUInt32LE(base + o));
    case 'u64':
      return (v, b, base) => void (v[name] = readU64(b, base + o));
    case 'be16':
      return (v, b, base) => void (v[name] = b.readUInt16BE(base + o));
    case 'be32':
      return (v, b, base) => void (v[name] = b.readUInt32BE(base + o));
    case 'ipv4':
      return (v, b, base) => void (v[name] = readIp4(b, base + o));
    case 'ip16':
      return () => undefined; // resolved after `family` is read
    case 'mac64':
      return (v, b, base) => void (v[name] = readMac(b, base + o));
    default:
      return (v, b, base) => void (v[name] = Buffer.from(b.subarray(base + o, base + o + size)));
  }
}

/**
 * Declares a C struct: fields in order, offsets by the C alignment rules (so the same struct
 * in C and here agree; a test checks them against BTF). `T` is the decoded object's type.
 */
export function struct<T>(
  cName: string,
  spec: readonly (readonly [string, FieldType])[],
): Layout<T> {
  const fields: FieldInfo[] = [];
  let off = 0;
  let maxAlign = 1;
  for (const [name, type] of spec) {
    const [size, align] = sizeOf(type);
    off = Math.ceil(off / align) * align;
    fields.push({ name, type, offset: off, size });
    off += size;
    maxAlign = Math.max(maxAlign, align);
  }
  const size = Math.ceil(off / maxAlign) * maxAlign;
  const data = fields.filter((f) => !(typeof f.type === 'object' && 'pad' in f.type));
  const hasFamily = data.some((f) => f.name === 'family');
  // Byte ranges no data field covers (padding, holes): zeroed on encode.
  const gaps: number[] = []; // start, end, start, end...
  let at = 0;
  for (const f of data) {
    if (f.offset > at) gaps.push(at, f.offset);
    at = f.offset + f.size;
  }
  if (at < size) gaps.push(at, size);
  // One writer and one reader per field, chosen once: no per-call type dispatch.
  const writers = data.map((f) => writerOf(f));
  const readers = data.map((f) => readerOf(f));
  const ipFields = data.filter((f) => f.type === 'ip16');

  return {
    cName,
    size,
    fields,
    encode(value: T, buf: Buffer, base = 0): void {
      const v = value as Obj;
      for (let i = 0; i < gaps.length; i += 2) {
        buf.fill(0, base + (gaps[i] as number), base + (gaps[i + 1] as number));
      }
      for (let i = 0; i < writers.length; i++) (writers[i] as Writer)(v, buf, base);
    },
    decode(buf: Buffer, base = 0): T {
      const v: Obj = {};
      for (let i = 0; i < readers.length; i++) (readers[i] as Reader)(v, buf, base);
      for (const f of ipFields) {
        const o = base + f.offset;
        const v4 = hasFamily
          ? v.family === FAMILY_IPV4
          : buf.subarray(o + 4, o + 16).every((b) => b === 0);
        v[f.name] = v4 ? readIp4(buf, o) : readIp6(buf, o);
      }
      return v as T;
    },
    format(value: T): string {
      const v = value as Obj;
      return data
        .map((f) => {
          const x = v[f.name];
          return `${f.name}=${Buffer.isBuffer(x) ? x.toString('hex') : String(x)}`;
        })
        .join(' ');
    },
  };
}
