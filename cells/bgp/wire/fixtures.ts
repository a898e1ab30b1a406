// Byte builders for the codec's tests: messages written by hand from the RFC layouts, so the
// tests do not check the encoder against itself.

/** Bytes from hex text (spaces and newlines ignored). */
export function hex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, '');
  if (t.length % 2 !== 0 || /[^0-9a-fA-F]/.test(t)) throw new Error(`bad hex '${s}'`);
  return Uint8Array.from(t.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Concatenates byte arrays and numbers (single bytes). */
export function cat(...parts: (Uint8Array | number | readonly number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

/** A big-endian 16-bit value as two bytes. */
export function be16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}

/** A big-endian 32-bit value as four bytes. */
export function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** A whole message: 16 bytes of 0xff, the length, the type, the body. */
export function msg(type: number, body: Uint8Array): Uint8Array {
  return cat(new Array<number>(16).fill(0xff), be16(19 + body.length), type, body);
}

/** A path attribute with a 1-byte length (or 2 when `flags` has 0x10). */
export function attr(
  flags: number,
  code: number,
  value: Uint8Array | readonly number[],
): Uint8Array {
  const v = Uint8Array.from(value);
  return flags & 0x10 ? cat(flags, code, be16(v.length), v) : cat(flags, code, v.length, v);
}

/** An UPDATE body from its withdrawn routes, attributes and NLRI bytes. */
export function updateBody(
  withdrawn: Uint8Array | readonly number[],
  attrs: readonly Uint8Array[],
  nlri: Uint8Array | readonly number[] = [],
): Uint8Array {
  const a = cat(...attrs);
  return cat(be16(withdrawn.length), withdrawn, be16(a.length), a, nlri);
}

/** Well-formed ORIGIN IGP, AS_PATH (one sequence, 4-octet) and NEXT_HOP 192.0.2.1. */
export function baseAttrs(asns: readonly number[] = [65001]): Uint8Array[] {
  return [
    attr(0x40, 1, [0]),
    attr(0x40, 2, [2, asns.length, ...asns.flatMap(be32)]),
    attr(0x40, 3, [192, 0, 2, 1]),
  ];
}
