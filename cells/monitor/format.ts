// Events as one line each, in the style of Cilium's monitor ("xx drop (Policy denied) ..."):
// what `cellium monitor` prints and /debuginfo's `policy-drops` lists.
import type { LostNotice, MonitorEvent } from './decode.js';
import { decodePacket } from './packet.js';

/** Names an identity for a summary; the CLI adds its labels, /debuginfo shows the number alone. */
export type IdentityName = (id: number) => string;

const plain: IdentityName = (id) => String(id);

const PROTOCOLS: Readonly<Record<number, string>> = {
  1: 'ICMP',
  6: 'TCP',
  17: 'UDP',
  58: 'ICMPv6',
};

function packet(data: string): string {
  const p = decodePacket(Buffer.from(data, 'base64'));
  const text = p.summary === '' ? '' : p.summary;
  return p.problem === undefined ? text : `${text}${text ? ' ' : ''}(${p.problem})`;
}

/** One event (or a lost-events notice) as one line. */
export function summary(e: MonitorEvent | LostNotice, name: IdentityName = plain): string {
  switch (e.type) {
    case 'lost':
      return `CPU --: ${e.lost} events lost (${e.source === 'client' ? 'this monitor was too slow' : 'the datapath ring was full'})`;
    case 'agent':
      return `>> ${e.subtype}: ${e.message}`;
    case 'drop':
      return (
        `xx drop (${e.reasonText}) flow 0x0 to endpoint ${e.dstEndpoint}, ifindex ${e.ifindex}, ` +
        `file ${e.prog}.c:${e.line}, ${e.direction} endpoint ${e.source}, ` +
        `identity ${name(e.srcIdentity)}->${name(e.dstIdentity)}: ${packet(e.data)}`
      );
    case 'trace': {
      const to =
        e.observationPoint === 'to-endpoint'
          ? `-> endpoint ${e.dstEndpoint}`
          : e.observationPoint === 'to-stack'
            ? '-> stack'
            : `<- endpoint ${e.source}`;
      return (
        `${to} flow 0x0 , identity ${name(e.srcIdentity)}->${name(e.dstIdentity)} ` +
        `state ${e.traceReason} ifindex ${e.ifindex}: ${packet(e.data)}`
      );
    }
    case 'policy-verdict':
      return (
        `Policy verdict log: flow 0x0 local EP ID ${e.source}, remote ID ${name(e.remoteIdentity)}, ` +
        `proto ${PROTOCOLS[e.protocol] ?? e.protocol}, ${e.direction}, ` +
        `action ${e.verdict === 'allowed' ? 'allow' : 'deny'}, match ${e.match}, ${packet(e.data)}`
      );
  }
}
