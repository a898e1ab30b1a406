// AS_PATH and AS4_PATH (RFC 4271 §4.3, RFC 6793): segments of 2- or 4-octet ASNs, and the
// merge of a 2-octet AS_PATH with the AS4_PATH an old speaker passed on.
import { checkUint, Cursor, Writer } from './bytes.js';
import { AS_TRANS } from './attr-codes.js';
import type { AsSegment } from './types.js';

const AS_SET = 1;
const AS_SEQUENCE = 2;

/** Decodes AS_PATH segments of `width`-octet ASNs; a string says what was malformed (RFC 7606 §7.2). */
export function decodeAsPath(v: Uint8Array, width: 2 | 4): AsSegment[] | string {
  const c = new Cursor(v);
  const segs: AsSegment[] = [];
  while (c.left > 0) {
    if (!c.has(2)) return 'segment header truncated';
    const type = c.u8();
    const n = c.u8();
    if (type < 1 || type > 4) return `segment type ${type}`;
    if (n === 0) return 'segment of length 0';
    if (!c.has(n * width)) return `segment of ${n} ASNs runs past the end`;
    const asns: number[] = [];
    for (let i = 0; i < n; i++) asns.push(width === 4 ? c.u32() : c.u16());
    segs.push({ type: type as AsSegment['type'], asns });
  }
  return segs;
}

/** Encodes segments with `width`-octet ASNs (AS_TRANS for those over 65535 when 2), 255 per segment. */
export function encodeAsPath(segs: readonly AsSegment[], width: 2 | 4): Uint8Array {
  const w = new Writer();
  for (const s of segs) {
    if (s.type < 1 || s.type > 4) throw new RangeError(`AS_PATH segment type ${String(s.type)}`);
    for (let i = 0; i < s.asns.length; i += 255) {
      const chunk = s.asns.slice(i, i + 255);
      w.u8(s.type).u8(chunk.length);
      for (const asn of chunk) {
        checkUint('ASN', asn, 0xffffffff);
        if (width === 4) w.u32(asn);
        else w.u16(asn > 0xffff ? AS_TRANS : asn);
      }
    }
  }
  return w.done();
}

/** Whether any ASN needs 4 octets (then a 2-octet session also gets AS4_PATH). */
export function hasAs4(segs: readonly AsSegment[]): boolean {
  return segs.some((s) => s.asns.some((a) => a > 0xffff));
}

/** The path length RFC 4271 §9.1.2.2 counts: each ASN of a sequence, 1 per set, 0 for confed. */
export function pathCount(segs: readonly AsSegment[]): number {
  let n = 0;
  for (const s of segs) n += s.type === AS_SEQUENCE ? s.asns.length : s.type === AS_SET ? 1 : 0;
  return n;
}

/**
 * The AS path an AS_PATH and an AS4_PATH stand for (RFC 6793 §4.2.3): the leading ASes of
 * AS_PATH the AS4_PATH lacks (those added by old speakers), then AS4_PATH. When AS_PATH is
 * the shorter, AS4_PATH is ignored.
 */
export function mergeAs4Path(
  asPath: readonly AsSegment[],
  as4Path: readonly AsSegment[],
): AsSegment[] {
  let take = pathCount(asPath) - pathCount(as4Path);
  if (take < 0) return [...asPath];
  const out: AsSegment[] = [];
  for (const s of asPath) {
    if (s.type === 3 || s.type === 4) out.push(s);
    else if (take <= 0) break;
    else if (s.type === AS_SET) {
      out.push(s);
      take--;
    } else {
      const n = Math.min(take, s.asns.length);
      out.push({ type: s.type, asns: s.asns.slice(0, n) });
      take -= n;
    }
  }
  for (const s of as4Path) {
    const last = out.at(-1);
    if (last?.type === AS_SEQUENCE && s.type === AS_SEQUENCE) {
      out[out.length - 1] = { type: AS_SEQUENCE, asns: [...last.asns, ...s.asns] };
    } else out.push(s);
  }
  return out;
}
