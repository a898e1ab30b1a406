// OPEN (RFC 4271 §4.2) with its capabilities (RFC 5492): multiprotocol (RFC 4760), route
// refresh (RFC 2918), graceful restart (RFC 4724), 4-octet AS (RFC 6793).
import { parseIpv4, formatIpv4 } from './addr.js';
import { checkUint, Cursor, Writer } from './bytes.js';
import { u16Data, wireError } from './errors.js';
import { codesOf, familyOf } from './family.js';
import { frame } from './frame.js';
import {
  ERR,
  HEADER_LEN,
  MSG,
  type Capabilities,
  type Decoded,
  type Family,
  type GracefulRestartCap,
  type OpenMsg,
  type RawCapability,
} from './types.js';

/** Capability codes (IANA "Capability Codes"). */
export const CAP = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  GRACEFUL_RESTART: 64,
  AS4: 65,
  ROUTE_REFRESH_CISCO: 128,
} as const;

const PARAM_CAPABILITIES = 2;

/** Mutable capabilities while an OPEN is read. */
interface CapsBuilder {
  multiprotocol: Family[];
  routeRefresh: boolean;
  as4?: number;
  gracefulRestart?: GracefulRestartCap;
  unknown: RawCapability[];
}

/** Reads one capability into `caps`; returns what was malformed, if anything. */
function readCapability(code: number, v: Uint8Array, caps: CapsBuilder): string | undefined {
  const c = new Cursor(v);
  switch (code) {
    case CAP.MULTIPROTOCOL: {
      if (v.length !== 4) return `multiprotocol capability length ${v.length}`;
      const afi = c.u16();
      c.u8();
      const family = familyOf(afi, c.u8());
      if (!family) caps.unknown.push({ code, value: v.slice() });
      else if (!caps.multiprotocol.includes(family)) caps.multiprotocol.push(family);
      return undefined;
    }
    case CAP.ROUTE_REFRESH:
    case CAP.ROUTE_REFRESH_CISCO:
      if (v.length !== 0) return `route refresh capability length ${v.length}`;
      caps.routeRefresh = true;
      return undefined;
    case CAP.AS4:
      if (v.length !== 4) return `4-octet AS capability length ${v.length}`;
      caps.as4 ??= c.u32();
      return undefined;
    case CAP.GRACEFUL_RESTART: {
      if (v.length < 2 || (v.length - 2) % 4 !== 0) {
        return `graceful restart capability length ${v.length}`;
      }
      const flags = c.u16();
      const families: { family: Family; forwardingPreserved: boolean }[] = [];
      while (c.has(4)) {
        const afi = c.u16();
        const family = familyOf(afi, c.u8());
        const f = c.u8();
        if (family) families.push({ family, forwardingPreserved: (f & 0x80) !== 0 });
      }
      caps.gracefulRestart ??= {
        restarting: (flags & 0x8000) !== 0,
        restartTimeSec: flags & 0x0fff,
        families,
      };
      return undefined;
    }
    default:
      caps.unknown.push({ code, value: v.slice() });
      return undefined;
  }
}

/** Decodes an OPEN body (RFC 4271 §6.2 checks; the peer AS is the session's to check). */
export function decodeOpen(body: Uint8Array): Decoded {
  const c = new Cursor(body);
  if (!c.has(10)) {
    const len = HEADER_LEN + body.length;
    return { ok: false, error: wireError(ERR.HEADER, 2, `OPEN length ${len}`, u16Data(len)) };
  }
  const version = c.u8();
  const myAs = c.u16();
  const holdTimeSec = c.u16();
  const bgpId = formatIpv4(c.bytes(4));
  const optLen = c.u8();
  if (version !== 4) {
    // The data is the largest version we support (RFC 4271 §6.2).
    const e = wireError(ERR.OPEN, 1, `unsupported BGP version ${version}`, u16Data(4));
    return { ok: false, error: e };
  }
  if (holdTimeSec === 1 || holdTimeSec === 2) {
    return { ok: false, error: wireError(ERR.OPEN, 6, `hold time ${holdTimeSec} (0 or >= 3)`) };
  }
  if (bgpId === '0.0.0.0') {
    return { ok: false, error: wireError(ERR.OPEN, 3, 'BGP identifier 0.0.0.0') };
  }
  if (c.left !== optLen) {
    const reason = `optional parameters length ${optLen} but ${c.left} bytes follow`;
    return { ok: false, error: wireError(ERR.OPEN, 0, reason) };
  }
  const caps: CapsBuilder = { multiprotocol: [], routeRefresh: false, unknown: [] };
  while (c.left > 0) {
    if (!c.has(2))
      return { ok: false, error: wireError(ERR.OPEN, 0, 'truncated optional parameter') };
    const ptype = c.u8();
    const plen = c.u8();
    if (!c.has(plen)) {
      const reason = `optional parameter ${ptype} length ${plen} runs past the end`;
      return { ok: false, error: wireError(ERR.OPEN, 0, reason) };
    }
    if (ptype !== PARAM_CAPABILITIES) {
      // RFC 4271 §6.2 gives this error no data.
      const reason = `unsupported optional parameter ${ptype}`;
      return { ok: false, error: wireError(ERR.OPEN, 4, reason) };
    }
    const p = new Cursor(body, c.pos, c.pos + plen);
    c.pos += plen;
    while (p.left > 0) {
      if (!p.has(2)) return { ok: false, error: wireError(ERR.OPEN, 0, 'truncated capability') };
      const code = p.u8();
      const clen = p.u8();
      if (!p.has(clen)) {
        const reason = `capability ${code} length ${clen} runs past its parameter`;
        return { ok: false, error: wireError(ERR.OPEN, 0, reason) };
      }
      const bad = readCapability(code, p.bytes(clen), caps);
      if (bad) return { ok: false, error: wireError(ERR.OPEN, 0, `malformed ${bad}`) };
    }
  }
  const msg: OpenMsg = { type: 'open', version, myAs, holdTimeSec, bgpId, caps };
  return { ok: true, msg };
}

/** The capabilities of an OPEN, each as (code, length, value). */
function capabilityTlvs(caps: Capabilities): Uint8Array[] {
  const out: Uint8Array[] = [];
  const tlv = (code: number, value: Uint8Array): void => {
    checkUint(`capability ${code} length`, value.length, 255);
    out.push(new Writer(2 + value.length).u8(code).u8(value.length).bytes(value).done());
  };
  for (const f of caps.multiprotocol) {
    const { afi, safi } = codesOf(f);
    tlv(CAP.MULTIPROTOCOL, new Writer(4).u16(afi).u8(0).u8(safi).done());
  }
  if (caps.routeRefresh) tlv(CAP.ROUTE_REFRESH, new Uint8Array(0));
  const gr = caps.gracefulRestart;
  if (gr) {
    const w = new Writer();
    checkUint('graceful restart time', gr.restartTimeSec, 4095);
    w.u16((gr.restarting ? 0x8000 : 0) | gr.restartTimeSec);
    for (const f of gr.families) {
      const { afi, safi } = codesOf(f.family);
      w.u16(afi)
        .u8(safi)
        .u8(f.forwardingPreserved ? 0x80 : 0);
    }
    tlv(CAP.GRACEFUL_RESTART, w.done());
  }
  if (caps.as4 !== undefined) {
    tlv(CAP.AS4, new Writer(4).u32(checkUint('4-octet AS', caps.as4, 0xffffffff)).done());
  }
  for (const u of caps.unknown) tlv(checkUint('capability code', u.code, 255), u.value);
  return out;
}

/** Encodes an OPEN; each capability in its own optional parameter (as gobgpd sends them). */
export function encodeOpen(m: Omit<OpenMsg, 'type'>): Uint8Array {
  const id = parseIpv4(m.bgpId);
  if (!id) throw new RangeError(`BGP identifier '${m.bgpId}' is not an IPv4 address`);
  const params = new Writer();
  for (const cap of capabilityTlvs(m.caps)) params.u8(PARAM_CAPABILITIES).u8(cap.length).bytes(cap);
  checkUint('optional parameters length', params.length, 255);
  const w = new Writer(10 + params.length)
    .u8(checkUint('version', m.version, 255))
    .u16(checkUint('my AS (AS_TRANS 23456 for a 4-octet AS)', m.myAs, 0xffff))
    .u16(checkUint('hold time', m.holdTimeSec, 0xffff))
    .bytes(id)
    .u8(params.length)
    .bytes(params.done());
  return frame(MSG.OPEN, w.done());
}
