// Datapath records (events.h) decoded into the JSON objects the monitor serves, and the agent's
// own notifications: one model for every message type, one object per line on the socket.
import { dropReasonText } from '../maps/index.js';
import {
  dropNotify,
  MESSAGE,
  MONITOR_PROG,
  MONITOR_VERSION,
  monitorHdr,
  offsetOf,
  policyVerdictNotify,
  PROG,
  TRACE_POINT,
  TRACE_REASON,
  traceNotify,
} from './defs.js';

/** A message type's name, as `cellium monitor --type` takes it (Cilium's names). */
export type MonitorType = 'drop' | 'trace' | 'policy-verdict' | 'agent';

/** The message types by name, as `--type` takes them. */
export const MONITOR_TYPES: readonly MonitorType[] = ['drop', 'trace', 'policy-verdict', 'agent'];

/** What every event carries. */
interface EventBase {
  /** Wall-clock time, RFC 3339 with nanoseconds where the datapath gave them. */
  readonly time: string;
}

/** What every datapath event carries: the record header. */
export interface DatapathEventBase extends EventBase {
  /** ns of CLOCK_MONOTONIC, as the program read it (a decimal string: it exceeds 2^53). */
  readonly ktime: string;
  /** The program that wrote it (bpf_lxc, bpf_host, bpf_xdp). */
  readonly prog: string;
  /** The endpoint the event is about (the program's endpoint), 0 if none. */
  readonly source: number;
  readonly ifindex: number;
  readonly srcIdentity: number;
  readonly dstIdentity: number;
  /** The packet's length, and how many of its first bytes `data` holds. */
  readonly origLen: number;
  readonly capLen: number;
  /** The first bytes of the packet, base64. */
  readonly data: string;
}

/** A packet a program dropped (Cilium's DropNotify). */
export interface DropEvent extends DatapathEventBase {
  readonly type: 'drop';
  readonly reason: number;
  /** Cilium's text for the reason ("Policy denied"). */
  readonly reasonText: string;
  readonly dstEndpoint: number;
  readonly direction: Direction;
  /** The source line of the drop in datapath-c (Cilium's file:line). */
  readonly line: number;
}

/** A packet passing an observation point (Cilium's TraceNotify). */
export interface TraceEvent extends DatapathEventBase {
  readonly type: 'trace';
  /** to-endpoint, to-stack, from-endpoint (Cilium's names of TRACE_TO_LXC ...). */
  readonly observationPoint: string;
  /** new, established, reply, unknown: the flow's state as the program saw it. */
  readonly traceReason: string;
  readonly dstEndpoint: number;
}

/** A policy lookup of a new flow (Cilium's PolicyVerdictNotify). */
export interface PolicyVerdictEvent extends DatapathEventBase {
  readonly type: 'policy-verdict';
  readonly verdict: 'allowed' | 'denied';
  /** 0 when allowed, else the drop reason. */
  readonly reason: number;
  readonly direction: Direction;
  /** The peer's identity (the source for ingress, the destination for egress). */
  readonly remoteIdentity: number;
  readonly protocol: number;
  /** The destination port (the ICMP type for ICMP). */
  readonly dport: number;
  /** Which entry decided: L3-Only, L3-L4, L4-Only, all, L3-Proto, Proto-Only, none. */
  readonly match: string;
}

/** An agent notification (Cilium's AgentNotify): start, endpoints, policy, services. */
export interface AgentEvent extends EventBase {
  readonly type: 'agent';
  /** agent-start, endpoint-created, endpoint-regenerated, endpoint-deleted, policy-updated, policy-deleted, service-upserted, service-deleted. */
  readonly subtype: string;
  readonly message: string;
  /** The endpoint it is about, if any. */
  readonly endpoint?: number;
  /** Structured details (endpoint labels, policy revision, service frontend...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A policy's direction, as the events name it. */
export type Direction = 'ingress' | 'egress' | 'unknown';

/** Any event the monitor serves. */
export type MonitorEvent = DropEvent | TraceEvent | PolicyVerdictEvent | AgentEvent;

/** Events lost before this point, for one client or by the datapath (Cilium's lost events notice). */
export interface LostNotice {
  readonly type: 'lost';
  readonly time: string;
  /** Where they were lost: `datapath` (the ring was full) or `client` (this client was too slow). */
  readonly source: 'datapath' | 'client';
  readonly lost: number;
}

const POINTS: Readonly<Record<number, string>> = {
  [TRACE_POINT.TO_LXC]: 'to-endpoint',
  [TRACE_POINT.TO_STACK]: 'to-stack',
  [TRACE_POINT.FROM_LXC]: 'from-endpoint',
};

const TRACE_REASONS: Readonly<Record<number, string>> = {
  [TRACE_REASON.UNKNOWN]: 'unknown',
  [TRACE_REASON.NEW]: 'new',
  [TRACE_REASON.ESTABLISHED]: 'established',
  [TRACE_REASON.REPLY]: 'reply',
};

const MATCHES = ['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all', 'L3-Proto', 'Proto-Only'];

function direction(d: number): Direction {
  return d === 1 ? 'ingress' : d === 2 ? 'egress' : 'unknown';
}

// Offsets from the declared layouts (layout.test.ts checks them against the BTF).
const H = Object.fromEntries(monitorHdr.fields.map((f) => [f.name, f.offset])) as Record<
  string,
  number
>;
const h = (name: string): number => H[name] ?? -1;
const DROP = {
  dst: offsetOf(dropNotify, 'dst_endpoint'),
  dir: offsetOf(dropNotify, 'dir'),
  line: offsetOf(dropNotify, 'line'),
  data: offsetOf(dropNotify, 'data'),
};
const TRACE = {
  dst: offsetOf(traceNotify, 'dst_endpoint'),
  reason: offsetOf(traceNotify, 'reason'),
  data: offsetOf(traceNotify, 'data'),
};
const VERDICT = {
  dport: offsetOf(policyVerdictNotify, 'dport'),
  proto: offsetOf(policyVerdictNotify, 'proto'),
  dir: offsetOf(policyVerdictNotify, 'dir'),
  match: offsetOf(policyVerdictNotify, 'match_type'),
  reason: offsetOf(policyVerdictNotify, 'reason'),
  data: offsetOf(policyVerdictNotify, 'data'),
};

/** Turns CLOCK_MONOTONIC nanoseconds into wall-clock time (process.hrtime is that clock on Linux). */
export interface Clock {
  wall(ktimeNs: bigint): string;
}

/** The clock of this host, its offset to the wall clock taken once. */
export function hostClock(): Clock {
  const offsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return {
    wall(ktimeNs) {
      const ns = ktimeNs + offsetNs;
      const iso = new Date(Number(ns / 1_000_000n)).toISOString();
      // Keep the nanoseconds: events of one burst are ordered by them.
      return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
    },
  };
}

/** What the agent adds to a datapath event it cannot know (the endpoint behind an interface). */
export interface Enrich {
  /** The endpoint whose host-side interface is `ifindex`, if one is. */
  endpointOf(ifindex: number): { readonly id: number; readonly identity: number } | undefined;
}

const TYPE_NAMES: Readonly<Record<number, DatapathType>> = {
  [MESSAGE.DROP]: 'drop',
  [MESSAGE.TRACE]: 'trace',
  [MESSAGE.POLICY_VERDICT]: 'policy-verdict',
};
const DATA_AT: Readonly<Record<number, number>> = {
  [MESSAGE.DROP]: DROP.data,
  [MESSAGE.TRACE]: TRACE.data,
  [MESSAGE.POLICY_VERDICT]: VERDICT.data,
};

/** The type of a datapath event. */
export type DatapathType = Exclude<MonitorType, 'agent'>;

/**
 * The type of a record read from the header's bytes alone (nothing decoded, nothing allocated),
 * or undefined for one decodeRecord would refuse: what the monitor counts with nobody listening.
 */
export function recordType(buf: Buffer): DatapathType | undefined {
  if (buf.length < monitorHdr.size || buf[h('version')] !== MONITOR_VERSION) return undefined;
  const type = buf[h('type')] ?? 0;
  const name = TYPE_NAMES[type];
  return name !== undefined && buf.length >= (DATA_AT[type] ?? Infinity) ? name : undefined;
}

/**
 * The endpoint `enrich` puts behind a record bpf_lxc wrote (that of the interface it ran on), or
 * undefined: what decodeRecord attributes an event to when the program could not.
 */
export function recordEndpoint(
  buf: Buffer,
  enrich: Enrich | undefined,
): { readonly id: number; readonly identity: number } | undefined {
  if (!enrich || buf.length < monitorHdr.size || buf[h('prog')] !== PROG.LXC) return undefined;
  return enrich.endpointOf(buf.readUInt32LE(h('ifindex')));
}

/**
 * Decodes one cellium_events record; undefined for one this agent does not understand (another
 * type or version: counted as `unknown` by the caller).
 */
export function decodeRecord(
  buf: Buffer,
  clock: Clock,
  enrich?: Enrich,
): DropEvent | TraceEvent | PolicyVerdictEvent | undefined {
  if (recordType(buf) === undefined) return undefined;
  const type = buf[h('type')];
  const ktime = buf.readBigUInt64LE(h('timestamp'));
  const capLen = Math.min(buf.readUInt16LE(h('len_cap')), buf.length - monitorHdr.size);
  const ifindex = buf.readUInt32LE(h('ifindex'));
  const prog = buf[h('prog')] ?? 0;
  let source = buf.readUInt16LE(h('source'));
  let srcIdentity = buf.readUInt32LE(h('src_identity'));
  let dstIdentity = buf.readUInt32LE(h('dst_identity'));
  const dataAt = DATA_AT[type ?? 0] ?? VERDICT.data;
  // bpf_lxc runs on an endpoint's host-side interface: that endpoint is the source when the
  // program could not say (a malformed frame it could not parse), and its identity the side's.
  const ep = recordEndpoint(buf, enrich);
  if (source === 0 && ep) source = ep.id;
  const base = {
    time: clock.wall(ktime),
    ktime: ktime.toString(),
    prog: MONITOR_PROG[prog] ?? `prog ${prog}`,
    source,
    ifindex,
    origLen: buf.readUInt32LE(h('len_orig')),
    capLen: Math.max(0, Math.min(capLen, buf.length - dataAt)),
  };
  const data = (): string => buf.toString('base64', dataAt, dataAt + base.capLen);
  switch (type) {
    case MESSAGE.DROP: {
      const dir = buf[DROP.dir] ?? 0;
      if (ep && dir === 2 && srcIdentity === 0) srcIdentity = ep.identity;
      if (ep && dir === 1 && dstIdentity === 0) dstIdentity = ep.identity;
      const reason = buf[h('subtype')] ?? 0;
      return {
        type: 'drop',
        ...base,
        srcIdentity,
        dstIdentity,
        data: data(),
        reason,
        reasonText: dropReasonText(reason),
        dstEndpoint: buf.readUInt16LE(DROP.dst),
        direction: direction(dir),
        line: buf.readUInt16LE(DROP.line),
      };
    }
    case MESSAGE.TRACE:
      return {
        type: 'trace',
        ...base,
        srcIdentity,
        dstIdentity,
        data: data(),
        observationPoint: POINTS[buf[h('subtype')] ?? -1] ?? `point ${buf[h('subtype')]}`,
        traceReason: TRACE_REASONS[buf[TRACE.reason] ?? 0] ?? 'unknown',
        dstEndpoint: buf.readUInt16LE(TRACE.dst),
      };
    case MESSAGE.POLICY_VERDICT: {
      const dir = buf[VERDICT.dir] ?? 0;
      const reason = buf[VERDICT.reason] ?? 0;
      return {
        type: 'policy-verdict',
        ...base,
        srcIdentity,
        dstIdentity,
        data: data(),
        verdict: reason === 0 ? 'allowed' : 'denied',
        reason,
        direction: direction(dir),
        remoteIdentity: dir === 1 ? srcIdentity : dstIdentity,
        protocol: buf[VERDICT.proto] ?? 0,
        dport: buf.readUInt16LE(VERDICT.dport),
        match: MATCHES[buf[VERDICT.match] ?? 0] ?? 'none',
      };
    }
    default:
      return undefined;
  }
}

/** The endpoints an event is about (what `--related-to` matches). */
export function relatedEndpoints(e: MonitorEvent): number[] {
  switch (e.type) {
    case 'agent':
      return e.endpoint === undefined ? [] : [e.endpoint];
    case 'policy-verdict':
      return [e.source];
    default:
      return [e.source, e.dstEndpoint];
  }
}
