// The load balancer's world for the datapath's kernel tests (bpf_lxc, bpf_host): every map the
// agent, the load balancer and conntrack share with the programs, opened under a test's pin dir,
// and services written into them by hand as the loadbalancer cell lays them out, so a test sees
// the programs against known map contents without the control plane.
import { openMap, type BpfMap, type MapSpec } from '../../core/bpf/index.js';
import { CT4, CT6, type CtTuple } from '../../cells/conntrack/maps.js';
import {
  AFFINITY_MATCH_MAP,
  LB4,
  LB6,
  LB_CONFIG_MAP,
  LB_DEVICES_MAP,
  SCOPE,
  type LbFamilySpecs,
} from '../../cells/loadbalancer/maps.js';
import {
  IPCACHE_MAP,
  LXC_MAP,
  METRICS_MAP,
  type MetricsKey,
  type MetricsValue,
} from '../../cells/maps/index.js';
import { parseFrame } from './packets.js';

// The tests' own copies of the C values (linux/pkt_cls.h, linux/in.h,
// datapath-c/include/cellium/{ct,ct_track}.h), so a test checks the programs against
// the headers rather than against the agent's TypeScript.

/** tc verdict: let the packet through to the stack. */
export const TC_ACT_OK = 0;
/** tc verdict: drop. */
export const TC_ACT_SHOT = 2;
/** tc verdict: the program redirected the packet (bpf_redirect*). */
export const TC_ACT_REDIRECT = 7;
/** IPPROTO_TCP. */
export const TCP = 6;
/** IPPROTO_UDP. */
export const UDP = 17;
/** ct_entry.flags: the other side than the key's sender sent a FIN (a RST sets both). */
export const CT_F_RX_CLOSING = 1 << 0;
/** ct_entry.flags: the key's sender sent a FIN (a RST sets both). */
export const CT_F_TX_CLOSING = 1 << 1;
/** ct_entry.flags: a pod reached itself through a service (its source became IPV4_LOOPBACK). */
export const CT_F_LB_LOOPBACK = 1 << 3;
/** ct_entry.flags: a packet without SYN was seen (the handshake's last ACK). */
export const CT_F_SEEN_NON_SYN = 1 << 4;
/** ct_entry.flags: a flow from outside the node to a NodePort or LoadBalancer frontend. */
export const CT_F_NODE_PORT = 1 << 5;
/** skb->mark of a packet already tracked and redirected to a veth: cil_to_container skips CT. */
export const MARK_MAGIC_CT_DONE = 0x0f00;
/** bpf_lxc's own redirect to a local endpoint: tracked, translated and both policies checked. */
export const MARK_MAGIC_POLICY_DONE = 0x0e00;

/**
 * Opens every map bpf_lxc and bpf_host share with the agent under `pinDir` (created when
 * absent); `all` is what a test hands to loadObject and closes when it is done.
 */
export function openAll(pinDir: string) {
  const open = <K, V>(spec: MapSpec<K, V>): BpfMap<K, V> =>
    openMap(spec, { backend: 'kernel', pinDir });
  const family = (f: LbFamilySpecs) => ({
    services: open(f.services),
    backends: open(f.backends),
    revNat: open(f.revNat),
    affinity: open(f.affinity),
    sourceRange: open(f.sourceRange),
    maglev: open(f.maglev),
    sockRevNat: open(f.sockRevNat),
  });
  const ct = (f: typeof CT4) => ({ tcp: open(f.tcp), any: open(f.any), nat: open(f.nat) });
  const m = {
    lxc: open(LXC_MAP),
    ipcache: open(IPCACHE_MAP),
    metrics: open(METRICS_MAP),
    lb4: family(LB4),
    lb6: family(LB6),
    affinityMatch: open(AFFINITY_MATCH_MAP),
    lbConfig: open(LB_CONFIG_MAP),
    devices: open(LB_DEVICES_MAP),
    ct4: ct(CT4),
    ct6: ct(CT6),
  };
  const all = [
    m.lxc,
    m.ipcache,
    m.metrics,
    ...Object.values(m.lb4),
    ...Object.values(m.lb6),
    m.affinityMatch,
    m.lbConfig,
    m.devices,
    ...Object.values(m.ct4),
    ...Object.values(m.ct6),
  ] as BpfMap<unknown, unknown>[];
  return { ...m, all };
}

/** The maps openAll opened. */
export type Maps = ReturnType<typeof openAll>;

/** A backend of a service: its id, where it is, its state (BE_STATE, active by default). */
export interface Backend {
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly state?: number;
}

/** A frontend and its backends, as the loadbalancer cell would write them. */
export interface Service {
  readonly vip: string;
  readonly port: number;
  readonly proto: number;
  readonly revNat: number;
  /** Slots 1..n in order, of the EXT scope (the only one unless `internal` is set). */
  readonly backends: readonly Backend[];
  /** The first `active` backends take new flows (all by default), the rest none (qcount). */
  readonly active?: number;
  /** The master entries' flags (SVC_FLAG), on every scope. */
  readonly flags?: number;
  /** The master entries' flags2 (SVC_FLAG2), on every scope. */
  readonly flags2?: number;
  /** The master entries' backend_id: affinity timeout and algorithm. */
  readonly master?: number;
  /** The INT scope's backends of a service with two scopes (eTP=Local), all active. */
  readonly internal?: readonly Backend[];
}

/**
 * Writes a service into its family's maps: each scope's master entry, backends and slots, and
 * the reverse NAT entry. Slots beyond the new list (a backend moved out) are removed, as the
 * control plane does, so writing a service again replaces it.
 */
export function writeService(m: Maps, s: Service): void {
  const lb = s.vip.includes(':') ? m.lb6 : m.lb4;
  const scopes: [number, readonly Backend[], number][] = [
    [SCOPE.EXT, s.backends, s.active ?? s.backends.length],
  ];
  if (s.internal) scopes.push([SCOPE.INT, s.internal, s.internal.length]);
  for (const [scope, bes, active] of scopes) {
    const key = { address: s.vip, dport: s.port, proto: s.proto, scope };
    const entry = { count: 0, rev_nat_index: s.revNat, flags: 0, flags2: 0, qcount: 0 };
    lb.services.update(
      { ...key, backend_slot: 0 },
      {
        ...entry,
        backend_id: s.master ?? 0,
        count: active,
        flags: s.flags ?? 0,
        flags2: s.flags2 ?? 0,
        qcount: bes.length - active,
      },
    );
    bes.forEach((b, i) => {
      lb.backends.update(
        { backend_id: b.id },
        { address: b.ip, port: b.port, proto: s.proto, flags: b.state ?? 0, cluster_id: 0 },
      );
      lb.services.update({ ...key, backend_slot: i + 1 }, { ...entry, backend_id: b.id });
    });
    for (let slot = bes.length + 1; slot <= bes.length + 4; slot++)
      lb.services.delete({ ...key, backend_slot: slot });
  }
  lb.revNat.update({ rev_nat_index: s.revNat }, { address: s.vip, port: s.port });
}

/** The CT key of a frame's flow (as on the wire) with `flags`. */
export function tupleOf(frame: Buffer, flags: number): CtTuple {
  const f = parseFrame(frame);
  return { saddr: f.src, daddr: f.dst, sport: f.sport, dport: f.dport, nexthdr: f.proto, flags };
}

/** A metric's count over every CPU: `reason` (REASON) in direction `dir` (METRIC). */
export function total(m: BpfMap<MetricsKey, MetricsValue[]>, reason: number, dir: number): number {
  return (m.lookup({ reason, dir }) ?? []).reduce((s, v) => s + Number(v.count), 0);
}
