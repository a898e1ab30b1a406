// An identity's policy as map entries (Cilium's MapState): the rules that select it, turned into
// (peer identity, direction, protocol, port prefix) -> allow or deny, with deny winning: an
// allow that a deny of the same identity covers is left out, so the datapath's longest-prefix
// lookup never finds an allow where a deny applies. Each rule is compiled once (compileRule);
// an identity's entries are the union of its rules' contributions over the selector cache.
import { RESERVED } from '../identity/index.js';
import type { PeerRule, Rule } from './rules.js';
import { labelIndex } from './selector.js';
import type { PeerSelector, SelectorCache } from './selectorcache.js';

/** Directions as the policy map keys them. */
export const INGRESS = 0;
export const EGRESS = 1;
export type Direction = typeof INGRESS | typeof EGRESS;

/** IP protocol numbers policy knows. */
export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;

/** A protocol and port block: prefix 40 every protocol, 48 every port of `proto`, 48+n a block. */
export interface L4Key {
  readonly proto: number;
  readonly port: number;
  readonly prefixlen: number;
}

/** One map entry. */
export interface MapEntry {
  readonly id: number;
  readonly dir: Direction;
  readonly proto: number;
  readonly port: number;
  readonly prefixlen: number;
  readonly deny: boolean;
}

/** One element of a rule, compiled: which peers (selector keys, or all) on which L4 keys. */
export interface Contribution {
  readonly dir: Direction;
  readonly deny: boolean;
  /** 'all': every identity; otherwise the selector keys whose selections are the peers. */
  readonly peers: 'all' | readonly string[];
  readonly l4: readonly L4Key[];
}

/** A rule compiled against nothing but itself: its selectors and contributions. */
export interface CompiledRule {
  readonly rule: Rule;
  readonly selectors: readonly PeerSelector[];
  readonly contributions: readonly Contribution[];
  /** Directions the rule turns default deny on in, for the endpoints it selects. */
  readonly enforces: readonly [ingress: boolean, egress: boolean];
}

const ANY_L4: L4Key = { proto: 0, port: 0, prefixlen: 40 };

/** The aligned power-of-two blocks covering ports lo..hi, as (port, prefixlen). */
export function portBlocks(lo: number, hi: number): L4Key[] {
  const out: L4Key[] = [];
  let p = lo;
  while (p <= hi) {
    let size = 1;
    while (size < 65536 && p % (size * 2) === 0 && p + size * 2 - 1 <= hi) size *= 2;
    out.push({ proto: 0, port: p, prefixlen: 48 + 16 - Math.log2(size) });
    p += size;
  }
  return out;
}

function l4Of(pr: PeerRule): L4Key[] {
  if (pr.ports.length === 0 && pr.icmps.length === 0) return [ANY_L4];
  const out: L4Key[] = [];
  for (const r of pr.ports) {
    const protos = r.protocol === 'ANY' ? [PROTO.TCP, PROTO.UDP, PROTO.SCTP] : [PROTO[r.protocol]];
    const blocks =
      r.port === 0 ? [{ proto: 0, port: 0, prefixlen: 48 }] : portBlocks(r.port, r.endPort);
    for (const proto of protos) for (const b of blocks) out.push({ ...b, proto });
  }
  for (const i of pr.icmps) {
    out.push({
      proto: i.family === 'IPv6' ? PROTO.ICMPV6 : PROTO.ICMP,
      port: i.type,
      prefixlen: 64,
    });
  }
  return out;
}

function peersOf(pr: PeerRule): { peers: 'all' | string[]; selectors: PeerSelector[] } {
  const selectors: PeerSelector[] = [
    ...pr.endpoints.map((s) => ({ kind: 'endpoints' as const, key: s.key, selector: s })),
    ...pr.cidrs.map((c) => ({
      kind: 'cidr' as const,
      key: `cidr:${c.cidr}${c.except.map((e) => `!${e}`).join('')}`,
      cidr: c,
    })),
    ...pr.entities.map((e) => ({ kind: 'entity' as const, key: `entity:${e}`, entity: e })),
  ];
  if (selectors.length === 0) {
    // Ports alone: every peer on them. Nothing at all ({}): no peer (default deny only).
    return { peers: pr.ports.length > 0 || pr.icmps.length > 0 ? 'all' : [], selectors };
  }
  return { peers: selectors.map((s) => s.key), selectors };
}

/** Compiles a rule's elements into contributions and the selectors they need. */
export function compileRule(rule: Rule): CompiledRule {
  const selectors = new Map<string, PeerSelector>();
  const contributions: Contribution[] = [];
  const sections: [readonly PeerRule[], Direction, boolean][] = [
    [rule.ingress, INGRESS, false],
    [rule.ingressDeny, INGRESS, true],
    [rule.egress, EGRESS, false],
    [rule.egressDeny, EGRESS, true],
  ];
  for (const [list, dir, deny] of sections) {
    for (const pr of list) {
      const { peers, selectors: sels } = peersOf(pr);
      for (const s of sels) selectors.set(s.key, s);
      contributions.push({ dir, deny, peers, l4: l4Of(pr) });
    }
  }
  const has = (a: readonly PeerRule[], b: readonly PeerRule[]): boolean => a.length + b.length > 0;
  return {
    rule,
    selectors: [...selectors.values()],
    contributions,
    enforces: [
      has(rule.ingress, rule.ingressDeny) && rule.enableDefaultDeny.ingress,
      has(rule.egress, rule.egressDeny) && rule.enableDefaultDeny.egress,
    ],
  };
}

/** How endpoints enforce policy (--policy-enforcement). */
export type EnforcementMode = 'default' | 'always' | 'never';

/** An identity's computed policy. */
export interface IdentityPolicy {
  /** By entryKey. */
  readonly entries: ReadonlyMap<string, MapEntry>;
  readonly ingress: boolean;
  readonly egress: boolean;
  /** The rules that select the identity (indexes into the list given). */
  readonly rules: readonly number[];
}

/** The key of an entry in an IdentityPolicy. */
export function entryKey(e: Omit<MapEntry, 'deny'>): string {
  return `${e.id}/${e.dir}/${e.proto}/${e.port}/${e.prefixlen}`;
}

/** Whether entry `a` (shorter or equal prefix) covers `b`: the same identity and direction. */
function covers(a: MapEntry, b: MapEntry): boolean {
  if (a.prefixlen > b.prefixlen) return false;
  if (a.prefixlen <= 40) return true;
  if (a.proto !== b.proto) return false;
  const bits = a.prefixlen - 48;
  if (bits <= 0) return true;
  const shift = 16 - bits;
  return a.port >>> shift === b.port >>> shift;
}

/**
 * The entries of an identity with `labels` under `rules`: allow-all in a direction nothing
 * enforces, the host always allowed in (allowLocalhost, as Cilium's default), and deny winning.
 */
export function computePolicy(p: {
  readonly labels: readonly string[];
  readonly rules: readonly CompiledRule[];
  readonly cache: SelectorCache;
  readonly mode: EnforcementMode;
  readonly allowLocalhost: boolean;
}): IdentityPolicy {
  const entries = new Map<string, MapEntry>();
  const put = (e: MapEntry): void => {
    const k = entryKey(e);
    const had = entries.get(k);
    if (!had || (e.deny && !had.deny)) entries.set(k, e);
  };
  const idx = labelIndex(p.labels);
  const selected: number[] = [];
  const enforce: [boolean, boolean] = [p.mode === 'always', p.mode === 'always'];
  if (p.mode !== 'never') {
    p.rules.forEach((c, i) => {
      if (!c.rule.endpointSelector?.matches(idx)) return;
      selected.push(i);
      if (c.enforces[0]) enforce[0] = true;
      if (c.enforces[1]) enforce[1] = true;
      for (const con of c.contributions) {
        const ids: Iterable<number> = con.peers === 'all' ? [0] : peersIds(p.cache, con.peers);
        for (const id of ids) {
          for (const l of con.l4) put({ id, dir: con.dir, deny: con.deny, ...l });
        }
      }
    });
  }
  for (const dir of [INGRESS, EGRESS] as const) {
    if (!enforce[dir]) put({ id: 0, dir, deny: false, ...ANY_L4 });
  }
  if (enforce[INGRESS] && p.allowLocalhost) {
    put({ id: RESERVED.host, dir: INGRESS, deny: false, ...ANY_L4 });
  }
  return {
    entries: dropCoveredAllows(entries),
    ingress: enforce[INGRESS],
    egress: enforce[EGRESS],
    rules: selected,
  };
}

function* peersIds(cache: SelectorCache, keys: readonly string[]): Generator<number> {
  const seen = new Set<number>();
  for (const k of keys) {
    const s = cache.selection(k);
    if (s.wildcard) {
      if (!seen.has(0)) yield 0;
      seen.add(0);
      continue;
    }
    for (const id of s.ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      yield id;
    }
  }
}

/** Leaves out allows a deny of the same identity and direction covers. */
function dropCoveredAllows(entries: Map<string, MapEntry>): Map<string, MapEntry> {
  const denies = new Map<string, MapEntry[]>();
  for (const e of entries.values()) {
    if (!e.deny) continue;
    const g = `${e.id}/${e.dir}`;
    const list = denies.get(g);
    if (list) list.push(e);
    else denies.set(g, [e]);
  }
  if (denies.size === 0) return entries;
  for (const [k, e] of entries) {
    if (e.deny) continue;
    const ds = denies.get(`${e.id}/${e.dir}`);
    if (ds?.some((d) => covers(d, e))) entries.delete(k);
  }
  return entries;
}
