// The differential test of network policy: seeded rule sets imported through the API of a hive
// on the kernel maps, and crafted packets run through the compiled bpf_lxc (BPF_PROG_TEST_RUN,
// the skb's ifindex that of the endpoint's device) on the maps the agent programmed; every
// verdict must equal the TypeScript model's (cells/policy/verdict.ts decide(), straight from the
// parsed rules): pass or drop, and for a drop whose policy (egress of the sender, ingress of the
// receiver) and why (a deny rule, or nothing allows it). The endpoints sit on veths of this
// namespace, left down (real ifindexes, which test-run accepts in the skb), and are replaced by
// a new population every SETS_PER_EPOCH rule sets (identities come, go and are reused). Dual
// stack: the endpoints have an IPv6 address too (the hive's IPv6 pod CIDR), the node an IPv6
// address on its uplink, rules name IPv6 prefixes and ICMPv6 types, and a third of the packets
// are IPv6 (TCP, UDP, ICMPv6 echo requests and replies, errors, neighbour discovery). Root only.
// CELLIUM_POLICY_DIFF_SEED and CELLIUM_POLICY_DIFF_SETS change the seed and the number of sets;
// CELLIUM_POLICY_DIFF_REPORT names a file that gets every mismatch.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { ifIndex, loadObject, readStructs, testRun, writeIp } from '../core/bpf/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { Rng } from '../core/testing/rng.js';
import { eventually } from '../core/testing/test-hive.js';
import { CtMaps } from '../cells/conntrack/index.js';
import { call, epHive, type EpHive } from '../cells/endpoint/fixtures.js';
import { fakeVeth, MemoryLinks } from '../cells/endpoint/links.memory.js';
import { IpcacheTable } from '../cells/ipcache/index.js';
import { LbMaps } from '../cells/loadbalancer/index.js';
import { DatapathMaps, METRIC, REASON } from '../cells/maps/index.js';
import { Policy, policyCell } from '../cells/policy/index.js';
import { parseRuleObjects } from '../cells/policy/rules.js';
import { PolicyMaps } from '../cells/policymap/index.js';
import { StateDB } from '../cells/statedb/index.js';
import { sh, uniq } from './support/netns.js';
import {
  ipv4IcmpEcho,
  ipv4Tcp,
  ipv4UdpFlow,
  ipv6Icmp,
  ipv6IcmpEcho,
  ipv6Tcp,
  ipv6UdpFlow,
} from './support/packets.js';
import {
  genEndpoints,
  genPackets,
  genRuleChange,
  HOST_IP,
  HOST_IP6,
  modelOutcome,
  packetAddresses,
  POD_RANGE6,
  ruleLabel,
  SPORT_MIN,
  type DiffEndpoint,
  type Outcome,
  type PacketSpec,
  type RuleChange,
  type RuleJson,
} from './support/policy-gen.js';

const SEED = Number(process.env.CELLIUM_POLICY_DIFF_SEED ?? 20240917);
const SETS = Number(process.env.CELLIUM_POLICY_DIFF_SETS ?? 1000);
/** A file to write every mismatch to (the assertion shows the first few). */
const REPORT = process.env.CELLIUM_POLICY_DIFF_REPORT;
/** Packets per rule set (a third IPv6), rule sets per population of endpoints, devices. */
const PACKETS = 30;
const SETS_PER_EPOCH = 10;
const DEVICES = 6;

// linux/pkt_cls.h
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

/**
 * An Ethernet + IPv6 + ICMPv6 message of type `type` from `src` to `dst` (`id`: an echo's
 * identifier): an echo request or reply; a destination unreachable quoting a UDP packet back
 * (source port 1: of no flow ever admitted, so not related); neighbour discovery (a target
 * address for solicitations and advertisements, hop limit `hops`).
 */
function icmp6(src: string, dst: string, type: number, id: number, hops = 255): Buffer {
  if (type === 128) return ipv6IcmpEcho(src, dst, id);
  if (type === 129) return ipv6Icmp({ src, dst, type, rest: (id << 16) | 1 });
  if (type === 1) {
    const quoted = ipv6UdpFlow({ src: dst, dst: src, sport: 1, dport: 53 }).subarray(14);
    return ipv6Icmp({ src, dst, type, code: 1, body: quoted });
  }
  // The target of a solicitation, advertisement or redirect (bpf_lxc reads only the type).
  const target = Buffer.alloc(16);
  writeIp(src === '::' ? 'fe80::a' : src, target, 0, 16);
  const body =
    type === 133
      ? Buffer.alloc(0)
      : type === 134
        ? Buffer.alloc(8) // reachable time, retransmission timer
        : type === 137
          ? Buffer.concat([target, target]) // target, destination
          : target;
  return ipv6Icmp({ src, dst, type, ttl: hops, body });
}

/** An endpoint as GET /v1/endpoint/{id} shows it (what the test reads). */
interface EpModel {
  status: {
    identity: { id: number; labels: string[] };
    policy: { realized: { 'policy-revision': number } };
  };
}

async function endpointModel(h: EpHive, id: number): Promise<EpModel> {
  return (await call(h, 'GET', `/endpoint/${id}`)).body as unknown as EpModel;
}

/** The hive's ipcache map holds exactly what its table wants (CIDR identities come and go). */
function ipcacheSynced(h: EpHive): boolean {
  const want = new Map<string, number>();
  for (const e of h.get(IpcacheTable).all(h.get(StateDB).readTxn())) want.set(e.prefix, e.identity);
  let n = 0;
  for (const [k, v] of h.get(DatapathMaps).ipcache.entries()) {
    n++;
    if (want.get(`${k.ip}/${k.prefixlen - 32}`) !== v.sec_identity) return false;
  }
  return n === want.size;
}

/** The agent (a started hive on its own bpffs directory), its devices, and bpf_lxc on its maps. */
interface Bench {
  readonly h: EpHive;
  readonly devices: readonly { readonly name: string; readonly index: number }[];
  /** Runs a frame through a program as if it came through device `ifindex`: the tc verdict. */
  run(prog: 'cil_from_container' | 'cil_to_container', ifindex: number, frame: Buffer): number;
  /** Why the last packet was dropped, from the drop counters that moved since the last call. */
  dropOf(): Outcome;
  /** Empties the conntrack maps (before source ports are used again). */
  flushCt(): void;
}

/** Sets the bench up; everything goes when the test finishes (in reverse order). */
async function bench(): Promise<Bench> {
  const tag = uniq();
  const devices: { name: string; index: number }[] = [];
  const bpfRoot = join('/sys/fs/bpf', `cellium-pdiff-${process.pid}-${tag}`);
  onTestFinished(() => {
    for (const d of devices) {
      try {
        sh('ip', ['link', 'del', d.name]);
      } catch {
        // already gone
      }
    }
    rmSync(bpfRoot, { recursive: true, force: true });
  });
  mkdirSync(bpfRoot);
  const links = new MemoryLinks();
  for (let i = 0; i < DEVICES; i++) {
    const name = `pd${tag}${i}`;
    // A veth pair left down (no traffic): a kernel may have no dummy driver.
    sh('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    const index = ifIndex(name);
    devices.push({ name, index });
    // The endpoint cell takes only veths: the fake links say what the device is.
    links.links.set(name, fakeVeth(name, index));
  }
  // The fake uplink eth0 carries the node addresses: the policy cell publishes them as the host
  // (and the pod CIDRs' router addresses).
  const eth0 = links.get('eth0');
  expect(eth0?.addresses[0]?.address).toBe(HOST_IP);
  if (eth0) {
    const addresses = [...eth0.addresses, { address: HOST_IP6, scope: 'global' }];
    links.links.set('eth0', { ...eth0, addresses });
  }
  const h = epHive(undefined, {
    extra: [policyCell],
    links,
    flags: {
      'bpf-backend': 'kernel',
      'bpf-root': bpfRoot,
      'ipv4-range': '10.9.0.0/24',
      'enable-ipv6': true,
      'ipv6-range': POD_RANGE6,
    },
  });
  onTestFinished(() => rmSync(h.dir, { recursive: true, force: true }));
  await h.requireStart();

  // bpf_lxc loaded as the endpoint cell loads it: on the agent's maps.
  const dp = h.get(DatapathMaps);
  const obj = loadObject(BPF_LXC_OBJECT, [
    dp.lxc.raw,
    dp.ipcache.raw,
    dp.metrics.raw,
    ...[...h.get(LbMaps).open.all(), ...h.get(CtMaps).all()].map((m) => m.raw),
    ...h.get(PolicyMaps).programMaps(),
  ]);
  onTestFinished(() => obj.close());
  const skb = readStructs(BPF_LXC_OBJECT, ['__sk_buff']).get('__sk_buff');
  const ifindexOff = skb?.members.find((m) => m.name === 'ifindex')?.offset;
  if (!skb || ifindexOff === undefined) throw new Error('no __sk_buff.ifindex in the BTF');

  const reasons = [
    ['denied', REASON.POLICY_DENIED],
    ['deny', REASON.POLICY_DENY],
    ['invalid-source', REASON.INVALID_SOURCE],
    ['invalid', REASON.INVALID],
    ['ct-create-failed', REASON.CT_CREATE_FAILED],
  ] as const;
  const dirs = [
    ['ingress', METRIC.INGRESS],
    ['egress', METRIC.EGRESS],
  ] as const;
  const counted = new Map<string, number>();
  const dropOf = (): Outcome => {
    let what: Outcome | undefined;
    for (const [rname, reason] of reasons) {
      for (const [dname, dir] of dirs) {
        const k = `${rname}/${dname}`;
        const n = (dp.metrics.lookup({ reason, dir }) ?? []).reduce(
          (s, v) => s + Number(v.count),
          0,
        );
        if (n === (counted.get(k) ?? 0)) continue;
        counted.set(k, n);
        what ??= rname === 'denied' || rname === 'deny' ? `${dname}:${rname}` : `other:${k}`;
      }
    }
    return what ?? 'other:no drop counted';
  };
  dropOf();
  const progs = {
    cil_from_container: obj.program('cil_from_container'),
    cil_to_container: obj.program('cil_to_container'),
  };
  return {
    h,
    devices,
    run: (prog, ifindex, frame) => {
      const ctx = Buffer.alloc(skb.size);
      ctx.writeUInt32LE(ifindex, ifindexOff);
      return testRun(progs[prog], frame, { ctx }).retval;
    },
    dropOf,
    flushCt: () => {
      for (const m of h.get(CtMaps).all()) for (const k of [...m.keys()]) m.delete(k);
    },
  };
}

/** Replaces the endpoints with new ones labelled `labels`, one per device; the new ones. */
async function populate(
  b: Bench,
  old: readonly DiffEndpoint[],
  labels: readonly string[][],
  nextIp: () => { ip: string; ip6: string },
): Promise<DiffEndpoint[]> {
  for (const ep of old) expect((await call(b.h, 'DELETE', `/endpoint/${ep.id}`)).status).toBe(200);
  // The devices are reused: their old endpoints' policy maps are detached first.
  const gone = new Set(old.map((e) => e.ifindex));
  const maps = b.h.get(PolicyMaps);
  await eventually(() => !maps.attached().some((i) => gone.has(i)));
  const eps: DiffEndpoint[] = [];
  for (const [i, l] of labels.entries()) {
    const dev = b.devices[i];
    if (!dev) throw new Error('more endpoints than devices');
    const { ip, ip6 } = nextIp();
    const r = await call(b.h, 'PUT', '/endpoint/0', {
      'container-id': `pdiff-${ip}`,
      'k8s-namespace': 'default',
      'k8s-pod-name': `pod-${ip}`,
      mac: `02:00:00:00:01:0${i}`,
      'host-mac': '02:00:00:00:00:ff',
      addressing: { ipv4: ip, ipv6: ip6 },
      'interface-name': dev.name,
      'interface-index': dev.index,
      labels: l,
      state: 'waiting-for-identity',
      'sync-build-endpoint': true,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id = (r.body as { id: number }).id;
    const { identity } = (await endpointModel(b.h, id)).status;
    eps.push({ id, ip, ip6, ifindex: dev.index, identity: identity.id, labels: identity.labels });
  }
  return eps;
}

/** Makes a rule change through the API and waits until the maps have the resulting set. */
async function apply(b: Bench, eps: readonly DiffEndpoint[], change: RuleChange): Promise<void> {
  const replies: Awaited<ReturnType<typeof call>>[] = [];
  const put = async (rules: readonly RuleJson[], query: string) => {
    replies.push(await call(b.h, 'PUT', `/policy${query}`, JSON.stringify(rules)));
  };
  if (change.kind === 'set') {
    if (change.rules.length === 0) replies.push(await call(b.h, 'DELETE', '/policy', []));
    else await put(change.rules, '?replace-with-labels=pdiff%3Don');
  } else {
    for (const r of change.deleted) {
      replies.push(await call(b.h, 'DELETE', '/policy', [ruleLabel(r)]));
    }
    // Cilium's replace: the rules with the same labels go.
    for (const r of change.replaced) await put([r], '?replace=true');
    if (change.added.length > 0) await put(change.added, '');
  }
  for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(200);
  const revision = Math.max(...replies.map((r) => Number(r.body.revision)));
  await eventually(async () => {
    for (const ep of eps) {
      const m = await endpointModel(b.h, ep.id);
      if (m.status.policy.realized['policy-revision'] < revision) return false;
    }
    const attached = new Set(b.h.get(PolicyMaps).attached());
    return eps.every((e) => attached.has(e.ifindex)) && ipcacheSynced(b.h);
  });
}

/** bpf_lxc's verdict on a packet (source port `sport`: a new flow), and the packet as run. */
function datapath(
  b: Bench,
  eps: readonly DiffEndpoint[],
  p: PacketSpec,
  sport: number,
): { outcome: Outcome; frame: string } {
  const from = p.from === undefined ? undefined : eps[p.from];
  const to = p.to === undefined ? undefined : eps[p.to];
  const { src, dst } = packetAddresses(p, eps);
  const v6 = p.family === 6;
  const frame =
    p.proto === 6
      ? (v6 ? ipv6Tcp : ipv4Tcp)({ src, dst, sport, dport: p.dport })
      : p.proto === 17
        ? (v6 ? ipv6UdpFlow : ipv4UdpFlow)({ src, dst, sport, dport: p.dport })
        : v6
          ? icmp6(src, dst, p.dport, sport, p.hops)
          : ipv4IcmpEcho(src, dst, sport);
  // From an endpoint: its device's tc ingress. From outside: the receiver's tc egress.
  const prog = from ? 'cil_from_container' : 'cil_to_container';
  const ifindex = (from ?? to)?.ifindex ?? 0;
  const ret = b.run(prog, ifindex, frame);
  const at = (ip: string, port: number) => (v6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  const hops = p.hops === undefined ? '' : ` hop limit ${p.hops}`;
  const ends = `${at(src, sport)} -> ${at(dst, p.dport)}`;
  const shown = `${prog} ifindex ${ifindex} ${ends} proto ${p.proto}${hops}`;
  if (ret === TC_ACT_OK || ret === TC_ACT_REDIRECT) return { outcome: 'pass', frame: shown };
  if (ret !== TC_ACT_SHOT) return { outcome: `other:retval ${ret}`, frame: shown };
  return { outcome: b.dropOf(), frame: shown };
}

kernelSuite(
  'policy differential: bpf_lxc on the agent-programmed maps against the TypeScript model',
  { objects: [BPF_LXC_OBJECT], commands: ['ip'] },
  () => {
    it('gives the verdict of the model for every generated rule set and packet', async () => {
      const started = performance.now();
      const b = await bench();
      const policy = b.h.get(Policy);
      const rng = new Rng(SEED);
      let ip = 9;
      // 10.9.0.N and fd00:9::N (N read as hex): both in the hive's pod CIDRs.
      const nextIp = () => {
        ip = ip >= 250 ? 10 : ip + 1;
        return { ip: `10.9.0.${ip}`, ip6: `fd00:9::${ip}` };
      };
      let sport = SPORT_MIN;
      let eps: DiffEndpoint[] = [];
      const totals = { cases: 0, passes: 0, drops: 0, denyDrops: 0 };
      const families = { 4: { cases: 0, mismatches: 0 }, 6: { cases: 0, mismatches: 0 } };
      const mismatches: string[] = [];
      const kinds = new Map<string, number>();
      let json: readonly RuleJson[] = [];
      let uid = 0;
      let importMs = 0;
      let populateMs = 0;
      for (let set = 0; set < SETS; set++) {
        if (set % SETS_PER_EPOCH === 0) {
          const t = performance.now();
          eps = await populate(b, eps, genEndpoints(rng.fork(`eps-${set}`)), nextIp);
          populateMs += performance.now() - t;
        }
        const srng = rng.fork(`set-${set}`);
        const change = genRuleChange(srng, json, () => String(uid++));
        json = change.rules;
        const rules = parseRuleObjects(json);
        const t = performance.now();
        await apply(b, eps, change);
        importMs += performance.now() - t;
        for (const packet of genPackets(srng, json, eps.length, PACKETS)) {
          const want = modelOutcome({
            rules,
            endpoints: eps,
            packet,
            mode: policy.mode(),
            allowLocalhost: policy.allowLocalhost,
          });
          const got = datapath(b, eps, packet, sport);
          if (++sport > 65000) {
            // Every flow so far is tracked: a port used again must not find its entry.
            b.flushCt();
            sport = SPORT_MIN;
          }
          totals.cases++;
          families[packet.family].cases++;
          if (got.outcome === 'pass') totals.passes++;
          else totals.drops++;
          if (got.outcome.endsWith(':deny')) totals.denyDrops++;
          if (got.outcome === want) continue;
          families[packet.family].mismatches++;
          const kind = `IPv${packet.family} ${packet.kind}: model ${want}, bpf_lxc ${got.outcome}`;
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
          const who = (i: number | undefined) => (i === undefined ? '-' : JSON.stringify(eps[i]));
          mismatches.push(
            [
              `set ${set} (seed ${SEED}): model ${want}, bpf_lxc ${got.outcome}`,
              `  packet ${JSON.stringify(packet)}: ${got.frame}`,
              `  from ${who(packet.from)} to ${who(packet.to)}`,
              `  rules ${JSON.stringify(json)}`,
            ].join('\n'),
          );
        }
      }
      if (REPORT !== undefined) writeFileSync(REPORT, mismatches.join('\n'));
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `policy differential (seed ${SEED}): ${totals.cases} cases over ${SETS} rule sets, ` +
          `${totals.passes} passed, ${totals.drops} dropped (${totals.denyDrops} by deny rules), ` +
          `${mismatches.length} mismatches (IPv4 ${families[4].mismatches} of ${families[4].cases}, ` +
          `IPv6 ${families[6].mismatches} of ${families[6].cases}); ${secs} s ` +
          `(${(importMs / 1000).toFixed(1)} s importing rules, ` +
          `${(populateMs / 1000).toFixed(1)} s replacing endpoints)`,
      );
      const summary = [...kinds].map(([k, n]) => `  ${n} × ${k}`).join('\n');
      expect(
        mismatches.length,
        `${mismatches.length} of ${totals.cases} verdicts differ:\n${summary}\nthe first ones:\n${mismatches.slice(0, 5).join('\n')}`,
      ).toBe(0);
    }, 600_000);
  },
);
