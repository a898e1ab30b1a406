import { readIpBytes, writeIpBytes } from '../ip.js';

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
  /** 16 bytes: always an IPv6 address (the v6 variants of maps whose keys have no family). */
  | 'ipv6'
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

/** A struct's name, size and fields: a declared Layout, or what a pinned map's BTF says. */
export interface StructLayout {
  readonly cName: string;
  readonly size: number;
  readonly fields: readonly FieldInfo[];
}

/** The key and value layouts of a map (one CPU's value for per-CPU maps). */
export interface MapLayouts {
  readonly key: StructLayout;
  readonly value: StructLayout;
}

/** A C struct's layout with its encoder and decoder. */
export interface Layout<T> extends StructLayout {
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

/** Whether a field is padding (never carried, always zero). */
export function isPad(t: FieldType): t is { readonly pad: number } {
  return typeof t === 'object' && 'pad' in t;
}

/** A field type as text (`u32`, `bytes[6]`, `pad[2]`), for messages. */
export function fieldTypeName(t: FieldType): string {
  if (typeof t === 'string') return t;
  return 'pad' in t ? `pad[${t.pad}]` : `bytes[${t.bytes}]`;
}

/** The size of a field type in bytes. */
export function fieldSize(t: FieldType): number {
  return sizeOf(t)[0];
}

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
    case 'ipv6':
      return [16, 1];
  }
}

/** Writes an IPv4 or IPv6 address; IPv4 takes the first 4 bytes of a 16-byte field. */
export function writeIp(ip: string, buf: Buffer, off: number, width: 4 | 16): void {
  writeIpBytes(ip, buf, off, width);
}

function readIp4(buf: Buffer, off: number): string {
  return readIpBytes('ipv4', buf, off);
}

function readIp6(buf: Buffer, off: number): string {
  return readIpBytes('ipv6', buf, off);
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
    case 'ipv6':
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
    case 'ipv6':
      return (v, b, base) => void (v[name] = readIp6(b, base + o));
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
  const data = fields.filter((f) => !isPad(f.type));
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
