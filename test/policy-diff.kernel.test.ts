// The differential test of network policy: seeded rule sets imported through the API of a hive
// on the kernel maps, and crafted packets run through the compiled bpf_lxc (BPF_PROG_TEST_RUN,
// the skb's ifindex that of the endpoint's device) on the maps the agent programmed; every
// verdict must equal the TypeScript model's (cells/policy/verdict.ts decide(), straight from the
// parsed rules): pass or drop, and for a drop whose policy (egress of the sender, ingress of the
// receiver) and why (a deny rule, or nothing allows it). The endpoints sit on veths of this
// namespace, left down (real ifindexes, which test-run accepts in the skb). Root only.
// CELLIUM_POLICY_DIFF_SEED and CELLIUM_POLICY_DIFF_SETS change the seed and the number of sets.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
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
import { decide, Policy, policyCell, type Peer, type Rule } from '../cells/policy/index.js';
import { parseRuleObjects } from '../cells/policy/rules.js';
import { PolicyMaps } from '../cells/policymap/index.js';
import { StateDB } from '../cells/statedb/index.js';
import { ipv4Tcp, ipv4UdpFlow } from './support/packets.js';
import {
  genEndpoints,
  genPackets,
  genRuleSet,
  HOST_IP,
  SPORT_MIN,
  type PacketSpec,
  type RuleJson,
} from './support/policy-gen.js';

const SEED = Number(process.env.CELLIUM_POLICY_DIFF_SEED ?? 20240917);
const SETS = Number(process.env.CELLIUM_POLICY_DIFF_SETS ?? 300);
/** Packets per rule set, and rule sets per population of endpoints. */
const PACKETS = 20;
const SETS_PER_EPOCH = 25;
const DEVICES = 6;

// linux/pkt_cls.h
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

/** A verdict both sides give: pass, or whose policy dropped it and why. */
type Outcome = 'pass' | `${'egress' | 'ingress'}:${'denied' | 'deny'}` | `other:${string}`;

/** An endpoint of the current population. */
interface Ep {
  readonly id: number;
  readonly ip: string;
  readonly ifindex: number;
  readonly identity: number;
  readonly labels: readonly string[];
}

/** An Ethernet + IPv4 + ICMP echo request (identifier `id`). */
function icmpEcho(src: string, dst: string, id: number): Buffer {
  const f = Buffer.alloc(14 + 20 + 16);
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]).copy(f);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(36, 16);
  f[22] = 64;
  f[23] = 1;
  writeIp(src, f, 26, 4);
  writeIp(dst, f, 30, 4);
  const sum = (from: number, to: number): number => {
    let s = 0;
    for (let i = from; i < to; i += 2) s += f.readUInt16BE(i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  f.writeUInt16BE(sum(14, 34), 24);
  f[34] = 8;
  f.writeUInt16BE(id, 38);
  f.writeUInt16BE(1, 40);
  f.writeUInt16BE(sum(34, 50), 36);
  return f;
}

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Endpoint statuses as GET /v1/endpoint/{id} shows them. */
interface EpModel {
  status: {
    identity: { id: number; labels: string[] };
    policy: { realized: { 'policy-revision': number } };
  };
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

kernelSuite(
  'policy differential: bpf_lxc on the agent-programmed maps against the TypeScript model',
  { objects: [BPF_LXC_OBJECT], commands: ['ip'] },
  () => {
    it('gives the verdict of the model for every generated rule set and packet', async () => {
      const started = performance.now();
      // Cleanups run in reverse order: the object, the hive, then devices and directories.
      const tag = randomBytes(3).toString('hex');
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
        // A veth pair left down (no traffic): this kernel may have no dummy driver.
        sh('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
        const index = ifIndex(name);
        devices.push({ name, index });
        links.links.set(name, fakeVeth(name, index));
      }
      // eth0 of the fake links carries the node address (HOST_IP): the host identity.
      expect(links.get('eth0')?.addresses[0]?.address).toBe(HOST_IP);
      const h = epHive(undefined, {
        extra: [policyCell],
        links,
        flags: { 'bpf-backend': 'kernel', 'bpf-root': bpfRoot, 'ipv4-range': '10.9.0.0/24' },
      });
      onTestFinished(() => rmSync(h.dir, { recursive: true, force: true }));
      await h.requireStart();
      const policy = h.get(Policy);
      const mode = policy.mode();
      const allowLocalhost = policy.allowLocalhost;

      const dp = h.get(DatapathMaps);
      const obj = loadObject(BPF_LXC_OBJECT, [
        dp.lxc.raw,
        dp.ipcache.raw,
        dp.metrics.raw,
        ...[...h.get(LbMaps).open.all(), ...h.get(CtMaps).all()].map((m) => m.raw),
        ...h.get(PolicyMaps).programMaps(),
      ]);
      onTestFinished(() => obj.close());
      const progs = {
        from: obj.program('cil_from_container'),
        to: obj.program('cil_to_container'),
      };
      const skb = readStructs(BPF_LXC_OBJECT, ['__sk_buff']).get('__sk_buff');
      const ifindexOff = skb?.members.find((m) => m.name === 'ifindex')?.offset;
      if (!skb || ifindexOff === undefined) throw new Error('no __sk_buff.ifindex in the BTF');

      // Drops by reason and direction, as counted so far: a drop tells which moved.
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
      const count = (reason: number, dir: number): number =>
        (dp.metrics.lookup({ reason, dir }) ?? []).reduce((s, v) => s + Number(v.count), 0);
      const dropOf = (): Outcome => {
        let what: Outcome | undefined;
        for (const [rname, reason] of reasons) {
          for (const [dname, dir] of dirs) {
            const k = `${rname}/${dname}`;
            const n = count(reason, dir);
            if (n !== (counted.get(k) ?? 0)) {
              what ??= rname === 'denied' || rname === 'deny' ? `${dname}:${rname}` : `other:${k}`;
              counted.set(k, n);
            }
          }
        }
        return what ?? 'other:uncounted';
      };
      dropOf();

      let sport = SPORT_MIN;
      const run = (prog: number, ifindex: number, frame: Buffer): number => {
        const ctx = Buffer.alloc(skb.size);
        ctx.writeUInt32LE(ifindex, ifindexOff);
        return testRun(prog, frame, { ctx }).retval;
      };

      // The population of endpoints, replaced every SETS_PER_EPOCH rule sets.
      let eps: Ep[] = [];
      let nextIp = 10;
      const populate = async (labels: string[][]): Promise<void> => {
        for (const ep of eps)
          expect((await call(h, 'DELETE', `/endpoint/${ep.id}`)).status).toBe(200);
        const gone = new Set(eps.map((e) => e.ifindex));
        // The devices are reused: their old endpoints' policy maps are detached first.
        await eventually(
          () =>
            !h
              .get(PolicyMaps)
              .attached()
              .some((i) => gone.has(i)),
        );
        eps = [];
        for (const [i, l] of labels.entries()) {
          const dev = devices[i];
          if (!dev) throw new Error('more endpoints than devices');
          const ip = `10.9.0.${nextIp}`;
          nextIp = nextIp >= 250 ? 10 : nextIp + 1;
          const r = await call(h, 'PUT', '/endpoint/0', {
            'container-id': `pdiff-${ip}`,
            'k8s-namespace': 'default',
            'k8s-pod-name': `pod-${ip}`,
            mac: `02:00:00:00:01:0${i}`,
            'host-mac': '02:00:00:00:00:ff',
            addressing: { ipv4: ip },
            'interface-name': dev.name,
            'interface-index': dev.index,
            labels: l,
            state: 'waiting-for-identity',
            'sync-build-endpoint': true,
          });
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          const id = (r.body as { id: number }).id;
          const m = (await call(h, 'GET', `/endpoint/${id}`)).body as unknown as EpModel;
          eps.push({
            id,
            ip,
            ifindex: dev.index,
            identity: m.status.identity.id,
            labels: m.status.identity.labels,
          });
        }
      };

      /** Imports a rule set (replacing the last one) and waits until the datapath has it. */
      const apply = async (rules: RuleJson[]): Promise<void> => {
        const r =
          rules.length === 0
            ? await call(h, 'DELETE', '/policy', [])
            : await call(h, 'PUT', '/policy?replace-with-labels=pdiff%3Don', JSON.stringify(rules));
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const revision = Number(r.body.revision);
        await eventually(async () => {
          for (const ep of eps) {
            const m = (await call(h, 'GET', `/endpoint/${ep.id}`)).body as unknown as EpModel;
            if (m.status.policy.realized['policy-revision'] < revision) return false;
          }
          const attached = new Set(h.get(PolicyMaps).attached());
          return eps.every((e) => attached.has(e.ifindex)) && ipcacheSynced(h);
        });
      };

      const model = (rules: readonly Rule[], p: PacketSpec): Outcome => {
        const world: Peer = { labels: ['reserved:world'], id: 2, ip: p.world ?? '' };
        const host: Peer = { labels: ['reserved:host'], id: 1 };
        const local = (i: number | undefined): Ep | undefined =>
          i === undefined ? undefined : eps[i];
        const from = local(p.from);
        const to = local(p.to);
        const peerOf = (ep: Ep | undefined, kind: string): Peer =>
          ep ? { labels: ep.labels, id: ep.identity } : kind.includes('world') ? world : host;
        const l4 = { proto: p.proto, port: p.dport };
        const common = { rules, l4, mode, allowLocalhost };
        for (const [dir, ep, peer] of [
          ['egress', from, peerOf(to, p.kind)],
          ['ingress', to, peerOf(from, p.kind)],
        ] as const) {
          if (!ep) continue;
          const v = decide({ ...common, endpoint: ep.labels, peer, dir }).verdict;
          if (v === 'denied') return `${dir}:denied`;
          if (v === 'denied-by-deny-rule') return `${dir}:deny`;
        }
        return 'pass';
      };

      const datapath = (p: PacketSpec): { outcome: Outcome; frame: string } => {
        const from = p.from === undefined ? undefined : eps[p.from];
        const to = p.to === undefined ? undefined : eps[p.to];
        const src = from?.ip ?? (p.kind === 'host-ep' ? HOST_IP : (p.world ?? ''));
        const dst = to?.ip ?? (p.kind === 'ep-host' ? HOST_IP : (p.world ?? ''));
        const s = sport;
        sport = sport >= 65000 ? SPORT_MIN : sport + 1;
        const frame =
          p.proto === 6
            ? ipv4Tcp({ src, dst, sport: s, dport: p.dport })
            : p.proto === 17
              ? ipv4UdpFlow({ src, dst, sport: s, dport: p.dport })
              : icmpEcho(src, dst, s);
        const ret = from
          ? run(progs.from, from.ifindex, frame)
          : run(progs.to, to?.ifindex ?? 0, frame);
        const what = `${from ? 'cil_from_container' : 'cil_to_container'} ifindex ${from?.ifindex ?? to?.ifindex} ${src}:${s} -> ${dst}:${p.dport} proto ${p.proto}`;
        if (ret === TC_ACT_OK || ret === TC_ACT_REDIRECT) return { outcome: 'pass', frame: what };
        if (ret !== TC_ACT_SHOT) return { outcome: `other:retval ${ret}`, frame: what };
        return { outcome: dropOf(), frame: what };
      };

      const rng = new Rng(SEED);
      const totals = { sets: 0, cases: 0, passes: 0, drops: 0, denyDrops: 0 };
      const mismatches: string[] = [];
      let importMs = 0;
      for (let set = 0; set < SETS; set++) {
        const srng = rng.fork(`set-${set}`);
        if (set % SETS_PER_EPOCH === 0) await populate(genEndpoints(rng.fork(`eps-${set}`)));
        const json = genRuleSet(srng);
        const rules = parseRuleObjects(json);
        const t = performance.now();
        await apply(json);
        importMs += performance.now() - t;
        totals.sets++;
        for (const p of genPackets(srng, json, eps.length, PACKETS)) {
          const want = model(rules, p);
          const got = datapath(p);
          totals.cases++;
          if (got.outcome === 'pass') totals.passes++;
          else totals.drops++;
          if (got.outcome.endsWith(':deny')) totals.denyDrops++;
          if (got.outcome !== want) {
            const who = (i: number | undefined) => (i === undefined ? '' : JSON.stringify(eps[i]));
            mismatches.push(
              [
                `set ${set} (seed ${SEED}): model ${want}, bpf_lxc ${got.outcome}`,
                `  packet ${JSON.stringify(p)}: ${got.frame}`,
                `  from ${who(p.from)} to ${who(p.to)}`,
                `  rules ${JSON.stringify(json)}`,
              ].join('\n'),
            );
          }
        }
      }
      if (process.env.PDIFF_DUMP)
        (await import('node:fs')).writeFileSync(process.env.PDIFF_DUMP, mismatches.join('\n'));
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `policy differential (seed ${SEED}): ${totals.cases} cases over ${totals.sets} rule sets, ` +
          `${totals.passes} passed, ${totals.drops} dropped (${totals.denyDrops} by deny rules), ` +
          `${mismatches.length} mismatches; ${secs} s (${(importMs / 1000).toFixed(1)} s importing)`,
      );
      expect(
        mismatches.length,
        `${mismatches.length} of ${totals.cases} verdicts differ; the first ones:\n${mismatches.slice(0, 5).join('\n')}`,
      ).toBe(0);
    }, 600_000);
  },
);
