// Seeded rule sets, endpoints and packets over a small universe, for the policy differential
// test (test/policy-diff.kernel.test.ts): labels app ∈ {a,b,c,d} and env ∈ {prod,dev}, world
// addresses in 203.0.113.0/24 and 198.51.100.0/24 (and a little of 192.0.2.0/24, where the node
// address lives), and in IPv6 2001:db8:a::/48 and 2001:db8:b::/48 (and a little of
// 2001:db8:2::/64, where the node's IPv6 address lives), ports below 10000. Endpoints are dual
// stack. Every rule set is one the rule parser accepts. Packets aim at what the rules name:
// addresses on the edges of their prefixes and exceptions, ports on the edges of their ranges, so
// a verdict that differs by one shows. modelOutcome() is what the TypeScript policy model
// (cells/policy/verdict.ts) says of a packet.
import { formatIp, parseIp } from '../../core/ip.js';
import type { Rng } from '../../core/testing/rng.js';
import { decide, type Peer, type Rule } from '../../cells/policy/index.js';

/** The label values a rule set draws from. */
export const APPS = ['a', 'b', 'c', 'd'] as const;
export const ENVS = ['prod', 'dev'] as const;

/** The node's address (the test gives it to its fake uplink): the host identity. */
export const HOST_IP = '192.0.2.10';
/** The node's IPv6 address (on the fake uplink too): the host identity. */
export const HOST_IP6 = '2001:db8:2::10';
/** The test hive's IPv6 pod CIDR (IPAM's --ipv6-range), and the endpoints' addresses in it. */
export const POD_RANGE6 = 'fd00:9::/112';
/** The IPv6 pod CIDR's router address, which the policy cell publishes as the host too. */
export const ROUTER_IP6 = 'fd00:9::1';
/** Addresses no rule prefix ever covers but 0.0.0.0/0: plain world (the ipcache knows none). */
const OUTSIDE = ['8.8.8.8', '100.64.0.1', '192.0.2.99'];
const SPACES = ['203.0.113', '198.51.100'];
/** The same in IPv6: no rule prefix covers these but ::/0; the spaces are /48s. */
const OUTSIDE6 = ['2001:4860:4860::8888', '64:ff9b::808:808', '2001:db8:2::99'];
const SPACES6 = ['2001:db8:a::', '2001:db8:b::'];
/** Where the node's IPv6 address lives (rules rarely name it). */
const HOST_SPACE6 = '2001:db8:2::/64';
/** The share of the packets that are IPv6. */
export const V6_SHARE = 1 / 3;
/** Ports packets and rules use besides those a rule set names (all below the source ports). */
const PORTS = [22, 53, 80, 81, 443, 1000, 1023, 1024, 5000, 8080, 9999];
/** Source ports start here: above every port a rule or packet names, so no flow is a reply. */
export const SPORT_MIN = 20000;

/** A rule set as JSON values (what PUT /v1/policy gets, as text). */
export type RuleJson = Record<string, unknown>;

/** An endpoint's labels (`k8s:app=a`, `k8s:env=prod`). */
export function genEndpoints(rng: Rng): string[][] {
  const n = rng.int(4, 6);
  const out: string[][] = [];
  for (let i = 0; i < n; i++) {
    const prev = out.length > 0 && rng.chance(0.25) ? rng.pick(out) : undefined;
    if (prev) {
      out.push([...prev]); // the same identity
      continue;
    }
    const labels: string[] = [];
    if (rng.chance(0.85)) labels.push(`k8s:app=${rng.pick(APPS)}`);
    if (labels.length === 0 || rng.chance(0.6)) labels.push(`k8s:env=${rng.pick(ENVS)}`);
    out.push(labels);
  }
  return out;
}

function key(rng: Rng, k: string): string {
  return rng.weighted({ [k]: 6, [`k8s:${k}`]: 2, [`any:${k}`]: 1 });
}

function values(rng: Rng, k: 'app' | 'env'): string[] {
  const domain: readonly string[] = k === 'app' ? APPS : ENVS;
  return [...new Set([rng.pick(domain), ...(rng.chance(0.4) ? [rng.pick(domain)] : [])])];
}

/** A label selector; `peer` ones may also name reserved identities. */
function genSelector(rng: Rng, peer: boolean): Record<string, unknown> {
  const shape = rng.weighted({
    empty: 1,
    labels: 5,
    expressions: 4,
    both: 2,
    reserved: peer ? 1 : 0,
  });
  if (shape === 'empty') return {};
  if (shape === 'reserved') {
    return { matchLabels: { [`reserved:${rng.pick(['host', 'world'])}`]: '' } };
  }
  const sel: Record<string, unknown> = {};
  if (shape === 'labels' || shape === 'both') {
    const labels: Record<string, string> = {};
    const ks = rng.weighted({ app: 3, env: 1, both: 1 });
    if (ks !== 'env') labels[key(rng, 'app')] = rng.pick(APPS);
    if (ks !== 'app') labels[key(rng, 'env')] = rng.pick(ENVS);
    sel.matchLabels = labels;
  }
  if (shape === 'expressions' || shape === 'both') {
    sel.matchExpressions = Array.from({ length: rng.int(1, 2) }, () => {
      const k = rng.pick(['app', 'env'] as const);
      const operator = rng.pick(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
      const withValues = operator === 'In' || operator === 'NotIn';
      return { key: key(rng, k), operator, ...(withValues ? { values: values(rng, k) } : {}) };
    });
  }
  return sel;
}

/** A prefix of the world spaces: /24, /25, /26, /28 or /32, aligned. */
function genPrefix(rng: Rng): string {
  if (rng.chance(0.03)) return rng.pick(['192.0.2.0/24', `${HOST_IP}/32`]);
  const len = rng.pick([24, 25, 26, 28, 32]);
  const size = 2 ** (32 - len);
  return `${rng.pick(SPACES)}.${rng.int(0, 256 / size - 1) * size}/${len}`;
}

/** Prefixes strictly inside `cidr` (none for a /32). */
function genExcept(rng: Rng, cidr: string): string[] {
  const [net = '', l = '0'] = cidr.split('/');
  const len = Number(l);
  if (len >= 32) return [];
  if (len === 0) return [`${rng.pick(SPACES)}.0/24`, genPrefix(rng)].slice(0, rng.int(1, 2));
  const base = Number(net.split('.')[3]);
  const prefix = net.split('.').slice(0, 3).join('.');
  return Array.from({ length: rng.int(1, 2) }, () => {
    const inner = rng.pick([25, 26, 27, 28, 30, 32].filter((x) => x > len));
    const size = 2 ** (32 - inner);
    const slots = 2 ** (inner - len);
    return `${prefix}.${base + rng.int(0, slots - 1) * size}/${inner}`;
  });
}

const v6num = (ip: string): bigint => parseIp(ip)?.value ?? 0n;
const v6text = (v: bigint): string => formatIp('ipv6', v);

/** A bigint in [0, below). */
function bigBelow(rng: Rng, below: bigint): bigint {
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(rng.int(0, 0xffffffff));
  return v % below;
}

/** An IPv6 prefix of the world spaces: /48 to /128, aligned, mostly low in its /48 (nested). */
function genPrefix6(rng: Rng): string {
  if (rng.chance(0.03)) return rng.pick([HOST_SPACE6, `${HOST_IP6}/128`]);
  const len = rng.pick([48, 56, 64, 96, 112, 120, 128]);
  const slots = 1n << BigInt(len - 48);
  const cap = rng.chance(0.75) ? 4n : 256n;
  const index = bigBelow(rng, slots < cap ? slots : cap);
  return `${v6text(v6num(rng.pick(SPACES6)) + index * (1n << BigInt(128 - len)))}/${len}`;
}

/** IPv6 prefixes strictly inside `cidr` (none for a /128): first, low, last or any slot. */
function genExcept6(rng: Rng, cidr: string): string[] {
  const [net = '', l = '0'] = cidr.split('/');
  const len = Number(l);
  if (len >= 128) return [];
  if (len === 0) return [`${rng.pick(SPACES6)}/48`, genPrefix6(rng)].slice(0, rng.int(1, 2));
  return Array.from({ length: rng.int(1, 2) }, () => {
    const inner = rng.pick([56, 64, 72, 96, 112, 120, 124, 126, 128].filter((x) => x > len));
    const slots = 1n << BigInt(inner - len);
    const slot = {
      first: () => 0n,
      low: () => bigBelow(rng, slots < 8n ? slots : 8n),
      last: () => slots - 1n,
      any: () => bigBelow(rng, slots),
    }[rng.weighted({ first: 3, low: 3, last: 2, any: 1 })]();
    return `${v6text(v6num(net) + slot * (1n << BigInt(128 - inner)))}/${inner}`;
  });
}

function genCidrs(rng: Rng, from: string): Record<string, unknown> {
  if (rng.chance(0.4)) {
    const cidrs = Array.from({ length: rng.int(1, 2) }, () => {
      const v6 = rng.chance(0.35);
      const p = v6 ? genPrefix6(rng) : genPrefix(rng);
      const full = v6 ? '/128' : '/32';
      // A bare address is a /32 (a /128).
      return p.endsWith(full) && rng.chance(0.5) ? p.slice(0, -full.length) : p;
    });
    return { [`${from}CIDR`]: cidrs };
  }
  const set = Array.from({ length: rng.int(1, 2) }, () => {
    const v6 = rng.chance(0.35);
    const all = v6 ? '::/0' : '0.0.0.0/0';
    const cidr = rng.chance(0.08) ? all : v6 ? genPrefix6(rng) : genPrefix(rng);
    const except = rng.chance(0.5) ? (v6 ? genExcept6 : genExcept)(rng, cidr) : [];
    return except.length > 0 ? { cidr, except } : { cidr };
  });
  return { [`${from}CIDRSet`]: set };
}

function genPort(rng: Rng): Record<string, unknown> {
  const shape = rng.weighted({ single: 6, range: 3, zero: 1 });
  const protocol = rng.weighted({ TCP: 4, UDP: 3, ANY: 2, none: 2 });
  const proto = protocol === 'none' ? {} : { protocol };
  if (shape === 'zero') return { port: rng.pick(['0', 0]), ...proto };
  const port = rng.chance(0.6) ? rng.pick(PORTS) : rng.int(1, 9000);
  const text = rng.chance(0.8) ? String(port) : port;
  if (shape === 'single') return { port: text, ...proto };
  const endPort = Math.min(9999, port + rng.pick([1, 2, 7, 10, 63, 100, 1000]));
  return { port: text, endPort, ...proto };
}

function genL4(rng: Rng, need: boolean): Record<string, unknown> {
  const shape = rng.weighted({ none: need ? 0 : 5, ports: 4, icmps: 1 });
  if (shape === 'none') return {};
  if (shape === 'icmps') {
    const field = (): Record<string, unknown> => {
      if (rng.chance(0.5)) {
        // An IPv4 type 128 (no family): no ICMPv6 echo request matches it.
        if (rng.chance(0.1)) return { type: 128 };
        return { family: 'IPv6', type: rng.pick([128, 128, 'EchoRequest', 129, 'EchoReply', 1]) };
      }
      const type = rng.pick([8, 8, 'EchoRequest', 0, 3]);
      return rng.chance(0.5) ? { type } : { family: 'IPv4', type };
    };
    return { icmps: [{ fields: Array.from({ length: rng.int(1, 2) }, field) }] };
  }
  const toPorts = Array.from({ length: rng.chance(0.2) ? 2 : 1 }, () => ({
    ports: Array.from({ length: rng.int(1, 3) }, () => genPort(rng)),
  }));
  return { toPorts };
}

/** One element of an ingress/egress (or deny) list. */
function genPeerRule(rng: Rng, dir: 'ingress' | 'egress'): Record<string, unknown> {
  const from = dir === 'ingress' ? 'from' : 'to';
  const shape = rng.weighted({ empty: 0.5, portsOnly: 1.5, peers: 8 });
  if (shape === 'empty') return {};
  if (shape === 'portsOnly') return genL4(rng, true);
  let el: Record<string, unknown> = {};
  while (Object.keys(el).length === 0) {
    if (rng.chance(0.55)) {
      el[`${from}Endpoints`] = Array.from({ length: rng.int(1, 2) }, () => genSelector(rng, true));
    }
    if (rng.chance(0.35)) el = { ...el, ...genCidrs(rng, from) };
    if (rng.chance(0.3)) {
      el[`${from}Entities`] = Array.from({ length: rng.int(1, 2) }, () =>
        rng.weighted({ all: 1, world: 3, cluster: 3, host: 3, 'remote-node': 0.3, health: 0.3 }),
      );
    }
  }
  return { ...el, ...genL4(rng, false) };
}

/** One rule, labelled `pdiff=on` (every rule of the test) and `rule=<name>` (this one). */
export function genRule(rng: Rng, name: string): RuleJson {
  const rule: RuleJson = {
    endpointSelector: rng.chance(0.15) ? {} : genSelector(rng, false),
    labels: ['pdiff=on', `rule=${name}`],
  };
  const sections = [
    ['ingress', 'ingress', 0.55],
    ['egress', 'egress', 0.55],
    ['ingressDeny', 'ingress', 0.2],
    ['egressDeny', 'egress', 0.2],
  ] as const;
  for (const [field, dir, p] of sections) {
    if (rng.chance(p)) {
      rule[field] = Array.from({ length: rng.int(1, 3) }, () => genPeerRule(rng, dir));
    }
  }
  if (rng.chance(0.2)) {
    const dd: Record<string, boolean> = {};
    if (rng.chance(0.7)) dd.ingress = rng.chance(0.4);
    if (rng.chance(0.7)) dd.egress = rng.chance(0.4);
    rule.enableDefaultDeny = dd;
  }
  return rule;
}

/** The `rule=<name>` label of a generated rule. */
export function ruleLabel(rule: RuleJson): string {
  const labels = rule.labels as string[];
  return labels[1] ?? '';
}

/**
 * How the rules of one set get to the agent: all at once replacing the last set, or as changes
 * to it (rules deleted by label, changed in place with `replace`, added beside the others), so
 * the engine's incremental paths (a rule added next to rules it does not touch) are checked too.
 */
export type RuleChange =
  | { readonly kind: 'set'; readonly rules: readonly RuleJson[] }
  | {
      readonly kind: 'edit';
      readonly rules: readonly RuleJson[];
      readonly deleted: readonly RuleJson[];
      readonly replaced: readonly RuleJson[];
      readonly added: readonly RuleJson[];
    };

/** The next rule set after `prev`: a new one of 1-4 rules (rarely none), or `prev` changed. */
export function genRuleChange(rng: Rng, prev: readonly RuleJson[], name: () => string): RuleChange {
  if (prev.length === 0 || rng.chance(0.5)) {
    const n = rng.chance(0.03) ? 0 : rng.int(1, 4);
    return { kind: 'set', rules: Array.from({ length: n }, () => genRule(rng, name())) };
  }
  const rules: RuleJson[] = [];
  const deleted: RuleJson[] = [];
  const replaced: RuleJson[] = [];
  for (const r of prev) {
    const what = rng.weighted({ keep: 5, delete: 2, replace: 2 });
    if (what === 'delete') deleted.push(r);
    else if (what === 'keep') rules.push(r);
    else {
      const again = genRule(rng, ruleLabel(r).slice('rule='.length));
      replaced.push(again);
      rules.push(again);
    }
  }
  const changed = deleted.length + replaced.length > 0;
  const added = Array.from({ length: rng.int(changed ? 0 : 1, 2) }, () => genRule(rng, name()));
  rules.push(...added);
  return { kind: 'edit', rules, deleted, replaced, added };
}

/** Where a packet goes: between endpoints (by index), to/from a world address or the host. */
export type PacketKind = 'ep-ep' | 'ep-world' | 'ep-host' | 'world-ep' | 'host-ep';

/**
 * A packet to run: IPPROTO_TCP (a SYN), UDP, ICMP (an echo request, `dport` its type) or ICMPv6
 * (`dport` its type: an echo request or reply, a destination unreachable quoting a packet of no
 * known flow, or neighbour discovery).
 */
export interface PacketSpec {
  readonly kind: PacketKind;
  /** IPv4 (the endpoints' IPv4 addresses, HOST_IP) or IPv6 (theirs, `host`). */
  readonly family: 4 | 6;
  /** The sending endpoint (ep-*). */
  readonly from?: number;
  /** The receiving endpoint (*-ep). */
  readonly to?: number;
  /** The world address (ep-world, world-ep). */
  readonly world?: string;
  /** IPv6: the host's address (ep-host, host-ep): HOST_IP6 or the pod CIDR's router. */
  readonly host?: string;
  /**
   * IPv6 neighbour discovery: the endpoint's side (the source of ep-world, the destination of
   * world-ep) when it is not the endpoint's address: link-local, unspecified or multicast.
   */
  readonly local?: string;
  /** IPv6 neighbour discovery: the hop limit (255 as sent on the link; 64 as if forwarded). */
  readonly hops?: number;
  readonly proto: 1 | 6 | 17 | 58;
  readonly dport: number;
}

/**
 * Whether a packet is neighbour discovery that bpf_lxc lets through whatever the policy:
 * ICMPv6 router solicitation .. redirect (133-137) as it is sent on a link, hop limit 255 and a
 * link-local (fe80::/10) or multicast (ff00::/8) destination. Other NDP-typed packets (to a
 * global address, or with a lower hop limit) are policy's, by type like any ICMPv6.
 */
export function ndpExempt(p: PacketSpec, dst: string): boolean {
  const link = /^fe[89ab]/i.test(dst) || /^ff/i.test(dst);
  return p.proto === 58 && p.dport >= 133 && p.dport <= 137 && (p.hops ?? 64) === 255 && link;
}

/** Every prefix (CIDRs and exceptions) a rule set names, as network/len. */
function prefixesOf(rules: readonly RuleJson[]): string[] {
  const out: string[] = [];
  const walk = (v: unknown, k: string): void => {
    if (typeof v === 'string' && (k === 'cidr' || k === 'except' || /CIDR$/.test(k))) {
      out.push(v.includes('/') ? v : `${v}/${v.includes(':') ? 128 : 32}`);
    } else if (Array.isArray(v)) for (const x of v) walk(x, k);
    else if (typeof v === 'object' && v !== null) {
      for (const [kk, x] of Object.entries(v)) walk(x, kk);
    }
  };
  walk(rules, '');
  return out;
}

/** Every port and range end a rule set names, with their neighbours. */
function portsOf(rules: readonly RuleJson[]): number[] {
  const out = new Set<number>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      for (const k of ['port', 'endPort']) {
        const p = Number(o[k]);
        if (o[k] !== undefined && p > 0) for (const d of [-1, 0, 1]) out.add(p + d);
      }
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk(rules);
  return [...out].filter((p) => p > 0 && p < SPORT_MIN);
}

function ipNum(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function ipText(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** A world address: on an edge of a prefix the rules name, in the spaces, or outside them. */
function worldAddress(rng: Rng, prefixes: readonly string[]): string {
  const shape = rng.weighted({ edge: prefixes.length > 0 ? 6 : 0, space: 3, outside: 1.5 });
  if (shape === 'outside') return rng.pick(OUTSIDE);
  if (shape === 'space') return `${rng.pick(SPACES)}.${rng.int(0, 255)}`;
  const [net = '', l = '0'] = rng.pick(prefixes).split('/');
  const len = Number(l);
  if (len === 0) return rng.pick([...OUTSIDE, `${rng.pick(SPACES)}.${rng.int(0, 255)}`]);
  const first = ipNum(net);
  const last = first + 2 ** (32 - len) - 1;
  const ip = ipText(rng.pick([first, last, first - 1, last + 1, rng.int(first, last)]));
  // Never the node's address, which is the host and not the world.
  return ip === HOST_IP ? '192.0.2.11' : ip;
}

/** An IPv6 world address: on an edge of a prefix the rules name, in the spaces, or outside. */
function worldAddress6(rng: Rng, prefixes: readonly string[]): string {
  const shape = rng.weighted({ edge: prefixes.length > 0 ? 6 : 0, space: 3, outside: 1.5 });
  const inSpace = () =>
    v6text(v6num(rng.pick(SPACES6)) + bigBelow(rng, 1n << BigInt(rng.pick([8, 16, 40, 64, 80]))));
  if (shape === 'outside') return rng.pick(OUTSIDE6);
  if (shape === 'space') return inSpace();
  const [net = '', l = '0'] = rng.pick(prefixes).split('/');
  const len = Number(l);
  if (len === 0) return rng.chance(0.5) ? rng.pick(OUTSIDE6) : inSpace();
  const first = v6num(net);
  const last = first + (1n << BigInt(128 - len)) - 1n;
  const ip = v6text(
    rng.pick([first, last, first - 1n, last + 1n, first + bigBelow(rng, last - first + 1n)]),
  );
  // Never the node's address, which is the host and not the world.
  return ip === HOST_IP6 ? '2001:db8:2::11' : ip;
}

const KINDS: Readonly<Record<PacketKind, number>> = {
  'ep-ep': 8,
  'ep-world': 4,
  'ep-host': 2,
  'world-ep': 4,
  'host-ep': 2,
};

/** An IPv6 packet; neighbour discovery from and to link-local, unspecified, multicast ends. */
function genPacket6(
  rng: Rng,
  prefixes: readonly string[],
  ports: readonly number[],
  endpoints: number,
): PacketSpec {
  const kind = rng.weighted<PacketKind>(KINDS);
  const proto = rng.weighted({ tcp: 5, udp: 3, icmp: 3 });
  const icmp = rng.weighted({ echo: 6, reply: 1.5, unreachable: 1, ndp: 2.5 });
  const dport =
    proto !== 'icmp'
      ? ports.length > 0 && rng.chance(0.7)
        ? rng.pick(ports)
        : rng.pick(PORTS)
      : { echo: 128, reply: 129, unreachable: 1, ndp: rng.int(133, 137) }[icmp];
  const ndp = proto === 'icmp' && icmp === 'ndp';
  const from = kind.startsWith('ep-') ? rng.int(0, endpoints - 1) : undefined;
  let to = kind.endsWith('-ep') ? rng.int(0, endpoints - 1) : undefined;
  if (from !== undefined && to !== undefined && to === from) to = (to + 1) % endpoints;
  let world: string | undefined;
  let local: string | undefined;
  if (kind === 'ep-world' && ndp) {
    world = rng.pick(['ff02::1', 'ff02::2', 'ff02::1:ff00:a', 'fe80::1']);
    local = rng.pick([undefined, 'fe80::a', 'fe80::a', ...(dport === 135 ? ['::'] : [])]);
  } else if (kind === 'world-ep' && ndp) {
    world = rng.pick(['fe80::1', 'fe80::2']);
    local = rng.pick([undefined, undefined, 'ff02::1', 'fe80::a']);
  } else if (kind.includes('world')) {
    world = worldAddress6(rng, prefixes);
  }
  return {
    kind,
    family: 6,
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
    ...(world === undefined ? {} : { world }),
    ...(kind.includes('host') ? { host: rng.pick([HOST_IP6, HOST_IP6, ROUTER_IP6]) } : {}),
    ...(local === undefined ? {} : { local }),
    ...(ndp ? { hops: rng.chance(0.7) ? 255 : 64 } : {}),
    proto: proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 58,
    dport,
  };
}

/**
 * `n` packets for a rule set between `endpoints` endpoints, the world and the host; a share
 * `v6` of them IPv6.
 */
export function genPackets(
  rng: Rng,
  rules: readonly RuleJson[],
  endpoints: number,
  n: number,
  v6 = V6_SHARE,
): PacketSpec[] {
  const all = prefixesOf(rules);
  const prefixes = all.filter((p) => !p.includes(':'));
  const prefixes6 = all.filter((p) => p.includes(':'));
  const ports = portsOf(rules);
  return Array.from({ length: n }, (): PacketSpec => {
    if (rng.chance(v6)) return genPacket6(rng, prefixes6, ports, endpoints);
    const kind = rng.weighted<PacketKind>(KINDS);
    const proto = rng.weighted({ tcp: 5, udp: 3, icmp: 2 });
    const dport =
      proto === 'icmp'
        ? 8
        : ports.length > 0 && rng.chance(0.7)
          ? rng.pick(ports)
          : rng.pick(PORTS);
    const from = kind.startsWith('ep-') ? rng.int(0, endpoints - 1) : undefined;
    let to = kind.endsWith('-ep') ? rng.int(0, endpoints - 1) : undefined;
    // An endpoint reaches itself without its veth: pick another.
    if (from !== undefined && to !== undefined && to === from) to = (to + 1) % endpoints;
    return {
      kind,
      family: 4,
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(kind.includes('world') ? { world: worldAddress(rng, prefixes) } : {}),
      proto: proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 1,
      dport,
    };
  });
}

/** An endpoint as packets and the model see it. */
export interface DiffEndpoint {
  readonly id: number;
  readonly ip: string;
  readonly ip6: string;
  /** Its host-side device. */
  readonly ifindex: number;
  readonly identity: number;
  /** Its identity's labels. */
  readonly labels: readonly string[];
}

/** A verdict: pass, or whose policy dropped the packet and why (a deny rule, or nothing allows it). */
export type Outcome = 'pass' | `${'egress' | 'ingress'}:${'denied' | 'deny'}` | `other:${string}`;

/** A packet's source and destination addresses. */
export function packetAddresses(
  p: PacketSpec,
  endpoints: readonly DiffEndpoint[],
): { readonly src: string; readonly dst: string } {
  const v6 = p.family === 6;
  const self = (i: number | undefined) => {
    const ep = i === undefined ? undefined : endpoints[i];
    return ep && (v6 ? ep.ip6 : ep.ip);
  };
  const host = v6 ? (p.host ?? HOST_IP6) : HOST_IP;
  const outside = p.kind.includes('host') ? host : (p.world ?? '');
  const src = p.kind === 'ep-world' && p.local ? p.local : (self(p.from) ?? outside);
  const dst = p.kind === 'world-ep' && p.local ? p.local : (self(p.to) ?? outside);
  return { src, dst };
}

/**
 * The model's verdict on a packet: the sender's egress (a local sender), then the receiver's
 * ingress (a local receiver), as bpf_lxc checks them. A world address is a peer with its
 * address; the node's addresses are the host. ICMPv6 neighbour discovery on the link passes
 * whatever the rules (ndpExempt: without it a pod has no neighbours).
 */
export function modelOutcome(p: {
  readonly rules: readonly Rule[];
  readonly endpoints: readonly DiffEndpoint[];
  readonly packet: PacketSpec;
  readonly mode: 'default' | 'always' | 'never';
  readonly allowLocalhost: boolean;
}): Outcome {
  const { packet: pkt } = p;
  if (ndpExempt(pkt, packetAddresses(pkt, p.endpoints).dst)) return 'pass';
  const local = (i: number | undefined) => (i === undefined ? undefined : p.endpoints[i]);
  const from = local(pkt.from);
  const to = local(pkt.to);
  const outside: Peer = pkt.kind.includes('world')
    ? { labels: ['reserved:world'], id: 2, ip: pkt.world ?? '' }
    : { labels: ['reserved:host'], id: 1 };
  const peerOf = (ep: DiffEndpoint | undefined): Peer =>
    ep ? { labels: ep.labels, id: ep.identity } : outside;
  const common = {
    rules: p.rules,
    l4: { proto: pkt.proto, port: pkt.dport },
    mode: p.mode,
    allowLocalhost: p.allowLocalhost,
  };
  for (const [dir, ep, peer] of [
    ['egress', from, peerOf(to)],
    ['ingress', to, peerOf(from)],
  ] as const) {
    if (!ep) continue;
    const v = decide({ ...common, endpoint: ep.labels, peer, dir }).verdict;
    if (v === 'denied') return `${dir}:denied`;
    if (v === 'denied-by-deny-rule') return `${dir}:deny`;
  }
  return 'pass';
}
