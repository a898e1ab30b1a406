// Decoding the path attributes of an UPDATE with the error handling of RFC 7606: each error is
// a session reset (a WireError), treat-as-withdraw, or attribute discard, the strongest winning.
import { formatIpv4 } from './addr.js';
import { decodeAsPath, mergeAs4Path } from './as-path.js';
import { AS_TRANS, ATTR, ATTR_INFO, attrName, FLAG } from './attr-codes.js';
import { Cursor } from './bytes.js';
import { wireError } from './errors.js';
import { decodeMpReach, decodeMpUnreach } from './mp-nlri.js';
import {
  ERR,
  type AsSegment,
  type MpReach,
  type MpUnreach,
  type PathAttrs,
  type RawAttr,
  type WireContext,
  type WireError,
} from './types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What the attribute section held, and the RFC 7606 actions it calls for. */
export interface AttrsResult {
  /** A session reset: the NOTIFICATION to send. */
  fatal?: WireError;
  /**
   * The first treat-as-withdraw error: its reason, and the NOTIFICATION RFC 4271 §6.3 gives
   * it, sent instead when the UPDATE announces nothing (RFC 7606 §5.2).
   */
  withdraw?: WireError;
  /** NEXT_HOP is well-formed but no unicast address: routes in the NLRI field are ignored. */
  badNextHop?: string;
  discarded: string[];
  /** The modelled attributes found (ORIGIN and AS_PATH undefined when absent or malformed). */
  attrs: Partial<Mutable<PathAttrs>> & { unknown: RawAttr[] };
  /** Codes of the attributes present (well-formed or not), for the mandatory check. */
  present: Set<number>;
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
}

/** Attributes only an internal peer may send (RFC 7606 §7.5, §7.9). */
const IBGP_ONLY: ReadonlySet<number> = new Set([
  ATTR.LOCAL_PREF,
  ATTR.ORIGINATOR_ID,
  ATTR.CLUSTER_LIST,
]);

/** Attributes whose errors are handled by attribute discard (RFC 7606 §7.6, §7.7; RFC 6793 §6). */
const DISCARD_ON_ERROR: ReadonlySet<number> = new Set([
  ATTR.ATOMIC_AGGREGATE,
  ATTR.AGGREGATOR,
  ATTR.AS4_PATH,
  ATTR.AS4_AGGREGATOR,
]);

function u32s(v: Uint8Array): number[] {
  const c = new Cursor(v);
  const out: number[] = [];
  while (c.has(4)) out.push(c.u32());
  return out;
}

/** Decodes the attribute section `b[from, to)` of an UPDATE. */
export function decodeAttrs(
  b: Uint8Array,
  from: number,
  to: number,
  ctx: WireContext,
): AttrsResult {
  const r: AttrsResult = { discarded: [], attrs: { unknown: [] }, present: new Set() };
  const withdraw = (why: string, subcode: number, data?: Uint8Array): void => {
    r.withdraw ??= wireError(ERR.UPDATE, subcode, why, data);
  };
  let as4Path: AsSegment[] | undefined;
  let as4Agg: { asn: number; address: string } | undefined;
  let pos = from;
  while (pos < to) {
    // A truncated header or an attribute overrunning the section: RFC 7606 §4 treat-as-withdraw,
    // the Total Attribute Length still locating the NLRI.
    const flags = b[pos] ?? 0;
    const code = b[pos + 1] ?? 0;
    const hlen = flags & FLAG.EXTENDED ? 4 : 3;
    if (to - pos < hlen) {
      withdraw(`${to - pos} bytes left in the attribute section: no attribute header fits`, 1);
      break;
    }
    const len = hlen === 4 ? ((b[pos + 2] ?? 0) << 8) | (b[pos + 3] ?? 0) : (b[pos + 2] ?? 0);
    const name = attrName(code);
    if (pos + hlen + len > to) {
      if (code === ATTR.MP_REACH_NLRI || code === ATTR.MP_UNREACH_NLRI) {
        // Its prefixes cannot be found, so they cannot be withdrawn (RFC 7606 §5.3).
        r.fatal = wireError(ERR.UPDATE, 1, `${name} length ${len} runs past the attribute section`);
        return r;
      }
      withdraw(`${name} length ${len} runs past the attribute section`, 1);
      break;
    }
    const raw = b.subarray(pos, pos + hlen + len);
    const v = b.subarray(pos + hlen, pos + hlen + len);
    pos += hlen + len;
    if (r.present.has(code)) {
      if (code === ATTR.MP_REACH_NLRI || code === ATTR.MP_UNREACH_NLRI) {
        r.fatal = wireError(ERR.UPDATE, 1, `${name} appears twice`);
        return r;
      }
      r.discarded.push(`${name} repeated (first kept)`);
      continue;
    }
    r.present.add(code);
    const info = ATTR_INFO.get(code);
    if (!info) {
      if (!(flags & FLAG.OPTIONAL)) {
        r.fatal = wireError(ERR.UPDATE, 2, `unrecognized well-known ${name}`, raw.slice());
        return r;
      }
      // The Extended Length bit is framing: the encoder sets it again when the value needs it.
      r.attrs.unknown.push({ flags: flags & ~FLAG.EXTENDED, code, value: v.slice() });
      continue;
    }
    const a = r.attrs;
    // From an external peer these are discarded whatever their content (RFC 7606 §7.5, §7.9).
    if (!ctx.ibgp && IBGP_ONLY.has(code)) {
      r.discarded.push(`${name} from an external peer`);
      continue;
    }
    // The subcode RFC 4271 §6.3 gives each error; the data is the attribute except for 11.
    const bad = (why: string, subcode = 5): void => {
      if (DISCARD_ON_ERROR.has(code)) r.discarded.push(`${name} ${why}`);
      else withdraw(`${name} ${why}`, subcode, subcode === 11 ? undefined : raw.slice());
    };
    if ((flags & (FLAG.OPTIONAL | FLAG.TRANSITIVE)) !== info.flags) {
      const why = `flags 0x${flags.toString(16)}`;
      if (code === ATTR.MP_REACH_NLRI || code === ATTR.MP_UNREACH_NLRI) {
        r.fatal = wireError(ERR.UPDATE, 4, `${name} ${why}`, raw.slice());
        return r;
      }
      bad(why, 4);
      continue;
    }
    switch (code) {
      case ATTR.ORIGIN:
        if (len !== 1) bad(`length ${len}`);
        else if ((v[0] ?? 0) > 2) bad(`value ${v[0] ?? 0}`, 6);
        else a.origin = (v[0] ?? 0) as 0 | 1 | 2;
        break;
      case ATTR.AS_PATH: {
        const segs = decodeAsPath(v, ctx.as4 ? 4 : 2);
        if (typeof segs === 'string') bad(`malformed: ${segs}`, 11);
        else a.asPath = segs;
        break;
      }
      case ATTR.NEXT_HOP: {
        const first = v[0] ?? 0;
        if (len !== 4) bad(`length ${len}`);
        else {
          a.nextHop = formatIpv4(v);
          // Semantically wrong (RFC 4271 §6.3): the routes are ignored, no NOTIFICATION.
          if (first === 0 || first >= 224)
            r.badNextHop = `NEXT_HOP ${a.nextHop} is not a unicast address`;
        }
        break;
      }
      case ATTR.MED:
        if (len !== 4) bad(`length ${len}`);
        else a.med = u32s(v)[0];
        break;
      case ATTR.LOCAL_PREF:
        if (len !== 4) bad(`length ${len}`);
        else a.localPref = u32s(v)[0];
        break;
      case ATTR.ATOMIC_AGGREGATE:
        if (len !== 0) bad(`length ${len}`);
        else a.atomicAggregate = true;
        break;
      case ATTR.AGGREGATOR: {
        const w = ctx.as4 ? 4 : 2;
        if (len !== w + 4) bad(`length ${len}`);
        else {
          const c = new Cursor(v);
          const asn = w === 4 ? c.u32() : c.u16();
          a.aggregator = { asn, address: formatIpv4(v, w) };
        }
        break;
      }
      case ATTR.COMMUNITIES:
        if (len === 0 || len % 4 !== 0) bad(`length ${len}`);
        else a.communities = u32s(v);
        break;
      case ATTR.ORIGINATOR_ID:
        if (len !== 4) bad(`length ${len}`);
        else a.originatorId = formatIpv4(v);
        break;
      case ATTR.CLUSTER_LIST:
        if (len === 0 || len % 4 !== 0) bad(`length ${len}`);
        else a.clusterList = u32s(v).map((_, i) => formatIpv4(v, 4 * i));
        break;
      case ATTR.LARGE_COMMUNITY:
        if (len === 0 || len % 12 !== 0) bad(`length ${len}`);
        else {
          const n = u32s(v);
          const lcs: [number, number, number][] = [];
          for (let i = 0; i + 2 < n.length; i += 3)
            lcs.push([n[i] ?? 0, n[i + 1] ?? 0, n[i + 2] ?? 0]);
          a.largeCommunities = lcs;
        }
        break;
      case ATTR.MP_REACH_NLRI:
      case ATTR.MP_UNREACH_NLRI: {
        const m = code === ATTR.MP_REACH_NLRI ? decodeMpReach(v) : decodeMpUnreach(v);
        if ('bad' in m) {
          // RFC 4760 §7: an incorrect MP attribute is an Optional Attribute Error.
          r.fatal = wireError(ERR.UPDATE, 9, `${name}: ${m.bad}`, raw.slice());
          return r;
        }
        if ('ignored' in m) r.discarded.push(`${name}: ${m.ignored}`);
        else if ('nlri' in m) r.mpReach = m;
        else r.mpUnreach = m;
        break;
      }
      case ATTR.AS4_PATH: {
        if (ctx.as4) {
          r.discarded.push(`${name} on a 4-octet AS session`);
          break;
        }
        const segs = decodeAsPath(v, 4);
        if (len < 6) bad(`length ${len}`);
        else if (typeof segs === 'string') bad(`malformed: ${segs}`);
        else {
          // RFC 6793 §6: confederation segments are dropped, the rest is used.
          as4Path = segs.filter((s) => s.type <= 2);
          if (as4Path.length < segs.length) r.discarded.push(`${name} confederation segments`);
        }
        break;
      }
      case ATTR.AS4_AGGREGATOR:
        if (ctx.as4) r.discarded.push(`${name} on a 4-octet AS session`);
        else if (len !== 8) bad(`length ${len}`);
        else as4Agg = { asn: u32s(v)[0] ?? 0, address: formatIpv4(v, 4) };
        break;
    }
  }
  mergeAs4(r, as4Path, as4Agg);
  return r;
}

/** RFC 6793 §4.2.3: what AS4_PATH and AS4_AGGREGATOR from an old speaker's session mean. */
function mergeAs4(
  r: AttrsResult,
  as4Path: AsSegment[] | undefined,
  as4Agg: { asn: number; address: string } | undefined,
): void {
  if (!as4Path && !as4Agg) return;
  const agg = r.attrs.aggregator;
  if (agg && agg.asn !== AS_TRANS) {
    // An old speaker aggregated after the AS4_* attributes were made: they are stale.
    r.discarded.push('AS4_PATH/AS4_AGGREGATOR ignored: AGGREGATOR is not AS_TRANS');
    return;
  }
  if (as4Agg && agg) r.attrs.aggregator = as4Agg;
  if (as4Path && r.attrs.asPath) r.attrs.asPath = mergeAs4Path(r.attrs.asPath, as4Path);
}
