// The monitor's event records, declared once (its maps are the maps cell's:
// cells/maps/monitor-maps.ts). The layouts mirror datapath-c/include/cellium/events.h;
// layout.test.ts checks them against the BTF of bpf_lxc.o.
import { struct, type Layout } from '../../core/bpf/index.js';

/** Message types (Cilium's MessageType* numbers): the datapath's three and the agent's. */
export const MESSAGE = { DROP: 1, TRACE: 4, POLICY_VERDICT: 5, AGENT: 130 } as const;

/** The record format's version (monitor_hdr.version). */
export const MONITOR_VERSION = 1;
/** Bytes of a packet a datapath event carries at most. */
export const MONITOR_CAPTURE_LEN = 128;

/** Which program wrote an event (monitor_hdr.prog: MONITOR_PROG_* of events.h). */
export const PROG = { LXC: 1, HOST: 2, XDP: 3, OVERLAY: 4 } as const;

/** The names of PROG's programs, as events show them. */
export const MONITOR_PROG: Readonly<Record<number, string>> = {
  [PROG.LXC]: 'bpf_lxc',
  [PROG.HOST]: 'bpf_host',
  [PROG.XDP]: 'bpf_xdp',
  [PROG.OVERLAY]: 'bpf_overlay',
};

/** Trace observation points (Cilium's TRACE_* numbers, as events.h). */
export const TRACE_POINT = { TO_LXC: 0, TO_STACK: 3, FROM_LXC: 5 } as const;

/** Why a packet was traced (trace_notify.reason). */
export const TRACE_REASON = { UNKNOWN: 0, NEW: 1, ESTABLISHED: 2, REPLY: 3 } as const;

/** Policy verdict match types (POLICY_MATCH_* of policy.h, Cilium's numbers). */
export const POLICY_MATCH = {
  NONE: 0,
  L3_ONLY: 1,
  L3_L4: 2,
  L4_ONLY: 3,
  ALL: 4,
  L3_PROTO: 5,
  PROTO_ONLY: 6,
} as const;

/** struct monitor_hdr: what every datapath event starts with. */
export interface MonitorHdr {
  readonly type: number;
  readonly subtype: number;
  readonly source: number;
  readonly ifindex: number;
  readonly len_orig: number;
  readonly len_cap: number;
  readonly version: number;
  readonly prog: number;
  readonly timestamp: bigint;
  readonly src_identity: number;
  readonly dst_identity: number;
}

/** struct monitor_hdr's layout: the header every record starts with (its offsets decode them). */
export const monitorHdr = struct<MonitorHdr>('monitor_hdr', [
  ['type', 'u8'],
  ['subtype', 'u8'],
  ['source', 'u16'],
  ['ifindex', 'u32'],
  ['len_orig', 'u32'],
  ['len_cap', 'u16'],
  ['version', 'u8'],
  ['prog', 'u8'],
  ['timestamp', 'u64'],
  ['src_identity', 'u32'],
  ['dst_identity', 'u32'],
]);

const hdr = ['hdr', { bytes: monitorHdr.size }] as const;
const data = ['data', { bytes: MONITOR_CAPTURE_LEN }] as const;

/** struct drop_notify (after its header). */
export const dropNotify = struct<{ dst_endpoint: number; dir: number; line: number }>(
  'drop_notify',
  [
    hdr,
    ['dst_endpoint', 'u16'],
    ['dir', 'u8'],
    ['pad', { pad: 1 }],
    ['line', 'u16'],
    ['pad2', { pad: 2 }],
    data,
  ],
);

/** struct trace_notify (after its header). */
export const traceNotify = struct<{ dst_endpoint: number; reason: number }>('trace_notify', [
  hdr,
  ['dst_endpoint', 'u16'],
  ['reason', 'u8'],
  ['pad', { pad: 1 }],
  ['pad2', { pad: 4 }],
  data,
]);

/** struct policy_verdict_notify (after its header). */
export const policyVerdictNotify = struct<{
  dport: number;
  proto: number;
  dir: number;
  match_type: number;
  reason: number;
}>('policy_verdict_notify', [
  hdr,
  ['dport', 'u16'],
  ['proto', 'u8'],
  ['dir', 'u8'],
  ['match_type', 'u8'],
  ['reason', 'u8'],
  ['pad', { pad: 2 }],
  data,
]);

/** Every event record layout, for the BTF check. */
export const EVENT_LAYOUTS: readonly Layout<unknown>[] = [
  monitorHdr,
  dropNotify,
  traceNotify,
  policyVerdictNotify,
] as Layout<unknown>[];

/** The byte offset of a field of a layout (a declared one: throws otherwise). */
export function offsetOf(layout: Layout<unknown>, name: string): number {
  const f = layout.fields.find((x) => x.name === name);
  if (!f) throw new Error(`${layout.cName} has no field ${name}`);
  return f.offset;
}
