// The OPEN this speaker sends a neighbor, and the checks on the peer's OPEN (RFC 4271 §6.2,
// RFC 6793, RFC 4760, RFC 4724): what the session then runs with.
import { ERR, type Family, type GracefulRestartCap, type OpenMsg } from '../wire/types.js';
import type { NeighborConfig } from './types.js';

/** The 2-octet AS a 4-octet speaker puts in "My Autonomous System" (RFC 6793 §9). */
export const AS_TRANS = 23456;

/** What both sides agreed on once the peer's OPEN passed the checks. */
export interface Negotiated {
  readonly holdSec: number;
  readonly keepaliveSec: number;
  /** Families both offered (IPv4 unicast when the peer sent no multiprotocol capability). */
  readonly families: readonly Family[];
  readonly as4: boolean;
  readonly ibgp: boolean;
  readonly routeRefresh: boolean;
  /** Both sides sent the graceful restart capability. */
  readonly gracefulRestart: boolean;
  /** The peer's graceful restart capability, kept for its restart time and F bits. */
  readonly peerGr?: GracefulRestartCap;
  readonly peerId: string;
}

/** A failed OPEN check: the NOTIFICATION to send and why. */
export interface OpenError {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  readonly reason: string;
}

/** The OPEN sent to a neighbor; `restarting` sets the graceful restart R bit. */
export function buildOpen(
  cfg: NeighborConfig,
  routerId: string,
  restarting: boolean,
): Omit<OpenMsg, 'type'> {
  const gr = cfg.gracefulRestart;
  return {
    version: 4,
    myAs: cfg.localAsn > 0xffff ? AS_TRANS : cfg.localAsn,
    holdTimeSec: cfg.holdTimeSec,
    bgpId: routerId,
    caps: {
      multiprotocol: cfg.families,
      routeRefresh: true,
      as4: cfg.localAsn,
      ...(gr.enabled && {
        gracefulRestart: {
          restarting,
          restartTimeSec: Math.min(gr.restartTimeSec, 4095),
          // The datapath keeps forwarding while the agent restarts: every family is preserved.
          families: cfg.families.map((family) => ({ family, forwardingPreserved: true })),
        },
      }),
      unknown: [],
    },
  };
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((v, o) => v * 256 + Number(o), 0);
}

/** Compares two BGP identifiers as unsigned 32-bit numbers (collision resolution, §6.8). */
export function compareBgpId(a: string, b: string): number {
  return ipv4ToInt(a) - ipv4ToInt(b);
}

/** Checks the peer's OPEN against the neighbor's configuration and negotiates the session. */
export function checkOpen(
  open: OpenMsg,
  cfg: NeighborConfig,
  routerId: string,
): { ok: true; neg: Negotiated } | { ok: false; error: OpenError } {
  const fail = (subcode: number, reason: string, data = new Uint8Array()) => ({
    ok: false as const,
    error: { code: ERR.OPEN, subcode, data, reason },
  });
  if (open.version !== 4) {
    // Data: the largest version this speaker supports, as 2 octets (§6.2).
    return fail(1, `unsupported version ${open.version}`, Uint8Array.of(0, 4));
  }
  const peerAs = open.caps.as4 ?? open.myAs;
  if (open.caps.as4 !== undefined && open.caps.as4 > 0xffff && open.myAs !== AS_TRANS) {
    return fail(2, `4-octet AS ${open.caps.as4} with My AS ${open.myAs}, not AS_TRANS`);
  }
  if (peerAs !== cfg.peerAsn) {
    return fail(2, `peer AS ${peerAs}, configured ${cfg.peerAsn}`);
  }
  if (open.holdTimeSec === 1 || open.holdTimeSec === 2) {
    return fail(6, `hold time ${open.holdTimeSec} s (must be 0 or at least 3)`);
  }
  if (open.bgpId === '0.0.0.0' || !/^\d+\.\d+\.\d+\.\d+$/.test(open.bgpId)) {
    return fail(3, `BGP identifier ${open.bgpId}`);
  }
  if (open.bgpId === routerId) {
    return fail(3, `BGP identifier ${open.bgpId} is this speaker's own`);
  }
  const hold = Math.min(cfg.holdTimeSec, open.holdTimeSec);
  const keepalive = hold === 0 ? 0 : Math.min(cfg.keepaliveSec, Math.floor(hold / 3));
  const offered = open.caps.multiprotocol.length === 0 ? ['ipv4-unicast'] : open.caps.multiprotocol;
  const peerGr = open.caps.gracefulRestart;
  return {
    ok: true,
    neg: {
      holdSec: hold,
      keepaliveSec: keepalive,
      families: cfg.families.filter((f) => offered.includes(f)),
      as4: open.caps.as4 !== undefined,
      ibgp: cfg.peerAsn === cfg.localAsn,
      routeRefresh: open.caps.routeRefresh,
      gracefulRestart: cfg.gracefulRestart.enabled && peerGr !== undefined,
      ...(peerGr && { peerGr }),
      peerId: open.bgpId,
    },
  };
}
