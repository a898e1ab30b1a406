import type { DropEvent } from './maps.js';

const REASONS: Readonly<Record<number, string>> = {
  132: 'Invalid source ip',
  133: 'Policy denied',
  155: 'CT: Map insertion failed',
  181: 'Policy denied by denylist',
};

const PROTOCOLS: Readonly<Record<number, string>> = {
  1: 'ICMP',
  6: 'TCP',
  17: 'UDP',
  58: 'ICMPv6',
  132: 'SCTP',
};

/** A drop as one line, in the spirit of Cilium's monitor ("xx drop (Policy denied) ..."). */
export function formatDrop(e: DropEvent): string {
  const proto = PROTOCOLS[e.protocol] ?? `proto ${e.protocol}`;
  const icmp = e.protocol === 1 || e.protocol === 58;
  const ends = icmp
    ? `${e.saddr} -> ${e.daddr} ${proto} type ${e.dport}`
    : `${e.saddr}:${e.sport} -> ${e.daddr}:${e.dport} ${proto}`;
  const reason = REASONS[e.reason] ?? `reason ${e.reason}`;
  const dir = e.dir === 1 ? 'ingress' : 'egress';
  return `xx drop (${reason}) ${dir} endpoint ${e.endpoint} identity ${e.srcIdentity}->${e.dstIdentity}: ${ends}`;
}
