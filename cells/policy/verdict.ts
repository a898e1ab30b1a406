// Policy decided straight from the rules, packet by packet: the reference the datapath is
// checked against (the differential test), and what GET /v1/policy/resolve traces. It shares
// nothing with the map computation (mapstate.ts) but the parsed rules: peers are matched by
// their labels and, for addresses outside the cluster, by the address itself against each CIDR
// and its exceptions, the way a user reads a rule.
import { parseIp } from '../../core/ip.js';
import { RESERVED } from '../identity/index.js';
import type { EnforcementMode } from './mapstate.js';
import type { CidrSelector, Entity, PeerRule, Rule } from './rules.js';

/** The other end of a packet, as the rules see it. */
export interface Peer {
  /** Its identity's labels (`reserved:world` for an address outside the cluster). */
  readonly labels: readonly string[];
  /** Its identity number (reserved ones matter to entities). */
  readonly id: number;
  /** For a peer outside the cluster: its address. */
  readonly ip?: string;
}

/** A packet's protocol and destination port (the type for ICMP). */
export interface L4 {
  readonly proto: number;
  readonly port: number;
}

/** A direction's verdict. */
export type Verdict = 'allowed' | 'denied' | 'denied-by-deny-rule';

function inCidr(ip: string, cidr: string): boolean {
  const a = parseIp(ip);
  const [net = '', len = '0'] = cidr.split('/');
  const n = parseIp(net);
  if (!a || !n || a.family !== n.family) return false;
  const host = BigInt((a.family === 'ipv4' ? 32 : 128) - Number(len));
  return a.value >> host === n.value >> host;
}

function cidrMatches(c: CidrSelector, peer: Peer): boolean {
  if (peer.ip === undefined) return false;
  return inCidr(peer.ip, c.cidr) && !c.except.some((e) => inCidr(peer.ip ?? '', e));
}

const WORLD = new Set<number>([RESERVED.world, RESERVED['world-ipv4'], RESERVED['world-ipv6']]);

function entityMatches(e: Entity, peer: Peer): boolean {
  const world = peer.ip !== undefined || WORLD.has(peer.id);
  switch (e) {
    case 'all':
      return true;
    case 'world':
      return world;
    case 'cluster':
      return !world;
    default:
      return RESERVED[e] === peer.id;
  }
}

function peerMatches(pr: PeerRule, peer: Peer): boolean {
  if (pr.endpoints.length + pr.cidrs.length + pr.entities.length === 0) {
    return pr.ports.length + pr.icmps.length > 0;
  }
  const world = peer.ip !== undefined;
  return (
    pr.endpoints.some((s) => s.wildcard || (!world && s.matches(peer.labels))) ||
    pr.cidrs.some((c) => cidrMatches(c, peer)) ||
    pr.entities.some((e) => entityMatches(e, peer))
  );
}

const PROTO_NUM = { TCP: 6, UDP: 17, SCTP: 132 } as const;

function l4Matches(pr: PeerRule, l4: L4): boolean {
  if (pr.ports.length + pr.icmps.length === 0) return true;
  const port = pr.ports.some(
    (r) =>
      (r.protocol === 'ANY'
        ? [6, 17, 132].includes(l4.proto)
        : PROTO_NUM[r.protocol] === l4.proto) &&
      (r.port === 0 || (l4.port >= r.port && l4.port <= r.endPort)),
  );
  return (
    port || pr.icmps.some((i) => (i.family === 'IPv6' ? 58 : 1) === l4.proto && i.type === l4.port)
  );
}

/** How a direction was decided, with the reasons as trace lines. */
export interface DirectionResult {
  readonly verdict: Verdict;
  readonly log: readonly string[];
}

/** The verdict of an endpoint's policy in one direction for a packet from/to `peer`. */
export function decide(p: {
  readonly rules: readonly Rule[];
  readonly endpoint: readonly string[];
  readonly peer: Peer;
  readonly dir: 'ingress' | 'egress';
  readonly l4: L4;
  readonly mode: EnforcementMode;
  readonly allowLocalhost: boolean;
}): DirectionResult {
  const log: string[] = [];
  if (p.mode === 'never') return { verdict: 'allowed', log: ['policy enforcement is never'] };
  const selecting = p.rules.filter((r) => r.endpointSelector?.matches(p.endpoint) === true);
  log.push(`${selecting.length}/${p.rules.length} rules select the endpoint`);
  const allow = p.dir === 'ingress' ? 'ingress' : 'egress';
  const deny = p.dir === 'ingress' ? 'ingressDeny' : 'egressDeny';
  const enforced =
    p.mode === 'always' ||
    selecting.some((r) => r[allow].length + r[deny].length > 0 && r.enableDefaultDeny[p.dir]);
  for (const r of selecting) {
    if (r[deny].some((pr) => peerMatches(pr, p.peer) && l4Matches(pr, p.l4))) {
      log.push(`denied by a ${deny} rule labelled ${JSON.stringify(r.labels)}`);
      return { verdict: 'denied-by-deny-rule', log };
    }
  }
  for (const r of selecting) {
    if (r[allow].some((pr) => peerMatches(pr, p.peer) && l4Matches(pr, p.l4))) {
      log.push(`allowed by an ${allow} rule labelled ${JSON.stringify(r.labels)}`);
      return { verdict: 'allowed', log };
    }
  }
  if (!enforced) {
    log.push(`${p.dir} policy is not enforced for the endpoint`);
    return { verdict: 'allowed', log };
  }
  if (p.dir === 'ingress' && p.allowLocalhost && p.peer.id === RESERVED.host) {
    log.push('the host is always allowed in (allow-localhost)');
    return { verdict: 'allowed', log };
  }
  log.push(`no ${allow} rule allows it`);
  return { verdict: 'denied', log };
}
