// Checks of a SpeakerConfig before it is applied (bad input names what was wrong), the
// canonical form of neighbor addresses, and which neighbors changed between two configs.
import { isIPv4 } from 'node:net';
import { formatIp, parseIp } from '../../../core/ip.js';
import { FAMILY_CODES } from '../wire/types.js';
import type { NeighborConfig, SpeakerConfig } from './types.js';

/** An address in the form the listener sees it ('fd00:0::1' → 'fd00::1'). */
export function canonicalAddress(a: string): string {
  const p = parseIp(a);
  return p ? formatIp(p.family, p.value) : a;
}

function isInt(n: number, min: number, max: number): boolean {
  return Number.isInteger(n) && n >= min && n <= max;
}

/** Throws an Error naming the first invalid field of the configuration. */
export function checkConfig(c: SpeakerConfig): void {
  if (!isIPv4(c.routerId) || c.routerId === '0.0.0.0') {
    throw new Error(`routerId '${c.routerId}' is not a non-zero IPv4 address`);
  }
  if (!isInt(c.listenPort, 0, 65535)) throw new Error(`listenPort ${c.listenPort} is not a port`);
  const seen = new Set<string>();
  for (const n of c.neighbors) {
    const at = `neighbor ${n.address}`;
    if (!parseIp(n.address)) throw new Error(`${at}: address is not an IP`);
    const key = canonicalAddress(n.address);
    if (seen.has(key)) throw new Error(`${at}: configured twice`);
    seen.add(key);
    if (!isInt(n.port, 1, 65535)) throw new Error(`${at}: port ${n.port} is not a port`);
    if (!isInt(n.peerAsn, 1, 0xffffffff))
      throw new Error(`${at}: peerAsn ${n.peerAsn} out of range`);
    if (!isInt(n.localAsn, 1, 0xffffffff))
      throw new Error(`${at}: localAsn ${n.localAsn} out of range`);
    if (!isInt(n.holdTimeSec, 0, 65535) || n.holdTimeSec === 1 || n.holdTimeSec === 2) {
      throw new Error(`${at}: holdTimeSec ${n.holdTimeSec} must be 0 or 3..65535`);
    }
    if (!isInt(n.keepaliveSec, 0, 65535))
      throw new Error(`${at}: keepaliveSec ${n.keepaliveSec} out of range`);
    if (n.holdTimeSec > 0 && (n.keepaliveSec < 1 || n.keepaliveSec > n.holdTimeSec)) {
      // Without KEEPALIVEs the peer's hold timer would end every session (Cilium checks this too).
      throw new Error(
        `${at}: keepaliveSec ${n.keepaliveSec} must be 1..holdTimeSec (${n.holdTimeSec})`,
      );
    }
    if (!isInt(n.connectRetrySec, 1, 65535)) {
      throw new Error(`${at}: connectRetrySec ${n.connectRetrySec} must be 1..65535`);
    }
    if (!isInt(n.ebgpMultihopTtl, 1, 255))
      throw new Error(`${at}: ebgpMultihopTtl ${n.ebgpMultihopTtl} must be 1..255`);
    if (!isInt(n.gracefulRestart.restartTimeSec, 0, 4095)) {
      throw new Error(
        `${at}: gracefulRestart.restartTimeSec ${n.gracefulRestart.restartTimeSec} must be 0..4095`,
      );
    }
    if (n.families.length === 0) throw new Error(`${at}: no families`);
    for (const f of n.families) {
      if (!(f in FAMILY_CODES)) throw new Error(`${at}: unknown family '${f}'`);
    }
    if (n.localAddress !== undefined && !parseIp(n.localAddress)) {
      throw new Error(`${at}: localAddress '${n.localAddress}' is not an IP`);
    }
    if (n.maxPrefixes !== undefined && !isInt(n.maxPrefixes, 1, 0xffffffff)) {
      throw new Error(`${at}: maxPrefixes ${n.maxPrefixes} must be 1..4294967295`);
    }
    if (n.passive && c.listenPort === 0) throw new Error(`${at}: passive needs a listenPort`);
  }
}

/** Whether two neighbor configurations differ in anything the session depends on. */
export function neighborChanged(a: NeighborConfig, b: NeighborConfig): boolean {
  return (
    canonicalAddress(a.address) !== canonicalAddress(b.address) ||
    a.port !== b.port ||
    a.peerAsn !== b.peerAsn ||
    a.localAsn !== b.localAsn ||
    a.passive !== b.passive ||
    a.connectRetrySec !== b.connectRetrySec ||
    a.holdTimeSec !== b.holdTimeSec ||
    a.keepaliveSec !== b.keepaliveSec ||
    a.ebgpMultihopTtl !== b.ebgpMultihopTtl ||
    a.gracefulRestart.enabled !== b.gracefulRestart.enabled ||
    a.gracefulRestart.restartTimeSec !== b.gracefulRestart.restartTimeSec ||
    a.families.length !== b.families.length ||
    a.families.some((f, i) => b.families[i] !== f) ||
    a.localAddress !== b.localAddress ||
    a.maxPrefixes !== b.maxPrefixes
  );
}
