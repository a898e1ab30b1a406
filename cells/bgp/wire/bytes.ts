// Bounds-checked byte access for the decoder (which must never throw on hostile input) and a
// growable writer for the encoders.

/**
 * Reads big-endian integers from a window of a buffer. Every read is preceded by `has(n)`;
 * reads past the window return 0 instead of throwing, and `has` makes sure they never happen.
 */
export class Cursor {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** Bytes left in the window. */
  get left(): number {
    return this.end - this.pos;
  }

  /** Whether `n` more bytes are in the window. */
  has(n: number): boolean {
    return n >= 0 && this.pos + n <= this.end;
  }

  /** One byte. */
  u8(): number {
    return this.buf[this.pos++] ?? 0;
  }

  /** A 16-bit big-endian integer. */
  u16(): number {
    const v = ((this.buf[this.pos] ?? 0) << 8) | (this.buf[this.pos + 1] ?? 0);
    this.pos += 2;
    return v;
  }

  /** A 32-bit big-endian unsigned integer. */
  u32(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (
      ((b[p] ?? 0) * 0x1000000 +
        (((b[p + 1] ?? 0) << 16) | ((b[p + 2] ?? 0) << 8) | (b[p + 3] ?? 0))) >>>
      0
    );
  }

  /** The next `n` bytes as a view (no copy). */
  bytes(n: number): Uint8Array {
    const v = this.buf.subarray(this.pos, Math.min(this.pos + n, this.end));
    this.pos += n;
    return v;
  }
}

/** Reads a 16-bit big-endian integer at an offset of a buffer (0 past its end). */
export function u16At(buf: Uint8Array, off: number): number {
  return ((buf[off] ?? 0) << 8) | (buf[off + 1] ?? 0);
}

/** Appends bytes and big-endian integers, growing its buffer as needed. */
export class Writer {
  private buf: Uint8Array;
  /** Bytes written so far. */
  length = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** Appends one byte. */
  u8(v: number): this {
    this.room(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }

  /** Appends a 16-bit big-endian integer. */
  u16(v: number): this {
    this.room(2);
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
    return this;
  }

  /** Appends a 32-bit big-endian integer. */
  u32(v: number): this {
    this.room(4);
    this.buf[this.length++] = (v >>> 24) & 0xff;
    this.buf[this.length++] = (v >>> 16) & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
    return this;
  }

  /** Appends bytes. */
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  /** Overwrites a 16-bit big-endian integer written earlier (a length filled in afterwards). */
  setU16(off: number, v: number): void {
    this.buf[off] = (v >>> 8) & 0xff;
    this.buf[off + 1] = v & 0xff;
  }

  /** A copy of what was written. */
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Checks an integer field before it is encoded, naming it when it does not fit. */
export function checkUint(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${name} ${String(v)} is not an integer in 0..${max}`);
  }
  return v;
}
