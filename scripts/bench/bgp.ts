// BGP benchmark: 10,000 prefixes from the built agent (LoadBalancer services created over REST
// before the session starts, selected by its peering policy) into a gobgpd's RIB, against a
// gobgpd sending the same 10,000 (loaded beforehand with `gobgp mrt inject`) to an identical
// gobgpd in the same run. Each receiver runs in its own namespace with the sender's neighbor
// admin-down; the clock starts at `gobgp neighbor <sender> enable` and stops at the first poll
// of the receiver that shows every prefix accepted. Needs root (namespaces) and gobgpd.
// `tsx scripts/bench/bgp.ts` runs it on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../core/api/index.js';
import { freePort } from '../../core/testing/ports.js';
import { startGobgpd, type Gobgpd } from '../../test/support/bgp-gobgpd.js';
import { mrtTableDump } from '../../test/support/bgp-mrt.js';
import { bgpPolicy, lbServiceSpec } from '../../test/support/bgp-policy.js';
import { cmd, routerDir, routerLink, Teardown } from '../../test/support/bgp-routers.js';
import { pct, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RECEIVER_AS = 65000;
const AGENT_AS = 65001;
const SENDER_AS = 65002;
/** The namespace label the agent's service selector matches. */
const NAMESPACE = 'bgp-bench';

/** The n /32 addresses announced: 10.168.0.0 onwards. */
function addresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${168 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
}

/** The receiver's IPv4 counters for `peer` (`gobgp -j neighbor <peer>`). */
async function received(r: Gobgpd, peer: string): Promise<{ up: boolean; accepted: number }> {
  const n = await r.json<{
    state?: { session_state?: number };
    afi_safis?: { state?: { family?: { afi?: number }; accepted?: number } }[];
  }>('neighbor', peer);
  const v4 = (n.afi_safis ?? []).find((a) => a.state?.family?.afi === 1);
  return { up: n.state?.session_state === 6, accepted: v4?.state?.accepted ?? 0 };
}

/** Rounds of each transfer (median reported): a poll costs tens of ms, a transfer ~0.2 s. */
const ROUNDS = Number(process.env.BENCH_BGP_ROUNDS ?? 5);

/** Enables the receiver's session with `peer`; ms until established and until n prefixes. */
async function timeOnce(
  r: Gobgpd,
  peer: string,
  n: number,
): Promise<{ established: number; all: number }> {
  const t0 = performance.now();
  await r.cli('neighbor', peer, 'enable');
  let established = NaN;
  for (;;) {
    const s = await received(r, peer);
    const t = performance.now() - t0;
    if (s.up && Number.isNaN(established)) established = t;
    if (s.accepted >= n) return { established, all: t };
    if (t > 300_000) throw new Error(`${peer}: ${s.accepted} of ${n} prefixes after 300 s`);
  }
}

/**
 * ROUNDS transfers, the session disabled again (the receiver's RIB emptied) between them;
 * medians of the time to all prefixes and of the transfer alone (Established → all).
 */
async function timeTransfer(
  r: Gobgpd,
  peer: string,
  n: number,
): Promise<{ all: number; transfer: number }> {
  const all: number[] = [];
  const transfer: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    if (i > 0) {
      await r.cli('neighbor', peer, 'disable');
      for (let s = await received(r, peer); s.up || s.accepted > 0; s = await received(r, peer))
        await new Promise((res) => setTimeout(res, 50));
    }
    const t = await timeOnce(r, peer, n);
    all.push(t.all);
    transfer.push(t.all - t.established);
  }
  return { all: pct(all, 50), transfer: pct(transfer, 50) };
}

/** A receiving gobgpd in its own namespace, the sender's neighbor configured admin-down. */
async function receiver(td: Teardown, senderAs: number, senderPort: number) {
  const link = routerLink(td, 'cbgpb');
  const r = await startGobgpd(td, {
    link,
    asn: RECEIVER_AS,
    routerId: link.routerV4,
    neighbors: [{ address: link.hostV4, asn: senderAs, port: senderPort, disabled: true }],
  });
  return { link, r };
}

/**
 * Loads n prefixes into a gobgpd's global RIB from an MRT dump. `gobgp mrt inject` (3.10) exits
 * without closing its gRPC stream, so what is still buffered then is lost: the dump goes on
 * with the same prefixes again (the same paths, no new destination) for the loss to fall on
 * repeats, more of them each attempt, until the RIB holds all n.
 */
async function loadRib(g: Gobgpd, file: string, nextHop: string, n: number): Promise<void> {
  const all = addresses(n);
  let have = 0;
  for (let attempt = 1; attempt <= 4; attempt++) {
    const pad = Array.from({ length: 2000 * 2 ** attempt }, (_, i) => all[i % n] ?? '');
    writeFileSync(file, mrtTableDump(nextHop, SENDER_AS, nextHop, [...all, ...pad]));
    await g.cli('mrt', 'inject', 'global', file);
    // The server may still be applying what arrived: settle on a count that stops changing.
    for (let last = -1; have !== last;) {
      last = have;
      await new Promise((res) => setTimeout(res, 200));
      const s = await g.cli('global', 'rib', 'summary', '-a', 'ipv4');
      have = Number(/Destination: (\d+)/.exec(s)?.[1] ?? 0);
    }
    if (have === n) return;
  }
  throw new Error(`the sender's RIB has ${have} of ${n} prefixes after gobgp mrt inject`);
}

/** gobgpd → gobgpd: the sender (host namespace, passive) loaded from an MRT dump first. */
async function gobgpRun(td: Teardown, n: number): Promise<{ all: number; transfer: number }> {
  const port = await freePort();
  const { link, r } = await receiver(td, SENDER_AS, port);
  const sender = await startGobgpd(td, {
    asn: SENDER_AS,
    routerId: link.hostV4,
    listenPort: port,
    apiPort: await freePort(),
    localAddress: link.hostV4,
    neighbors: [{ address: link.routerV4, asn: RECEIVER_AS, passive: true }],
  });
  const file = join(routerDir(td, 'cellium-bgp-bench-'), 'rib.mrt');
  await loadRib(sender, file, link.hostV4, n);
  return timeTransfer(r, link.hostV4, n);
}

/** The agent's resident set in KiB (VmRSS). */
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** agent → gobgpd: the built agent (passive neighbor) with n LoadBalancer services made first. */
async function agentRun(
  td: Teardown,
  n: number,
): Promise<{ all: number; transfer: number; rssIdle: number; rss: number }> {
  const port = await freePort();
  const { link, r } = await receiver(td, AGENT_AS, port);
  const dir = routerDir(td, 'cellium-bgp-bench-agent-');
  const policy = join(dir, 'policy.json');
  writeFileSync(
    policy,
    bgpPolicy({
      localAsn: AGENT_AS,
      listenPort: port,
      nodeV4: link.hostV4,
      podV4: '10.167.0.0/24',
      serviceLabels: { 'io.kubernetes.service.namespace': NAMESPACE },
      neighbors: [{ address: link.routerV4, asn: RECEIVER_AS, passive: true }],
    }),
  );
  const socket = join(dir, 'api.sock');
  const agent: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'cellium-agent.cjs'),
      `--socket-path=${socket}`,
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${join(dir, 'bpf')}`,
      '--bpf-backend=memory',
      '--agent-health-port=0',
      '--enable-health-checking=false',
      '--enable-endpoint-health-checking=false',
      `--ipv4-node=${link.hostV4}`,
      '--ipv6-node=',
      '--ipv4-range=10.167.0.0/24',
      '--enable-bgp-control-plane=true',
      `--bgp-config=${policy}`,
      `--bgp-listen-port=${port}`,
    ],
    { stdio: 'ignore' },
  );
  td.add(
    () =>
      new Promise<void>((resolve) => {
        if (agent.exitCode !== null || agent.signalCode !== null) {
          resolve();
          return;
        }
        agent.once('exit', () => resolve());
        agent.kill('SIGKILL');
      }),
  );
  const api = new ApiClient(socket);
  td.add(() => api.close());
  for (let i = 0; ; i++) {
    const h = await api
      .request<{ cilium: { state: string } }>('GET', '/healthz')
      .catch(() => undefined);
    if (h?.cilium.state === 'Ok') break;
    if (i > 3000) throw new Error('the agent did not become healthy in 60 s');
    await new Promise((res) => setTimeout(res, 20));
  }
  const rssIdle = rssKiB(agent.pid ?? 0);
  const ips = addresses(n);
  // 16 requests in flight: the services exist before the session starts.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < n; i = next++) {
        const spec = { ip: ips[i] ?? '', name: `s${i}`, namespace: NAMESPACE };
        await api.request('PUT', `/service/${i + 1}`, {
          body: lbServiceSpec({ id: i + 1, ...spec, backend: '10.167.0.5' }),
        });
      }
    }),
  );
  // The agent has them all among its own routes (loc-rib) before the session is enabled.
  for (;;) {
    const rs = await api.request<unknown[]>(
      'GET',
      '/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast',
    );
    if (rs.length >= n) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const t = await timeTransfer(r, link.hostV4, n);
  return { ...t, rssIdle, rss: rssKiB(agent.pid ?? 0) };
}

/** Rows of the BGP benchmark for n prefixes. */
export async function benchBgp(
  n = Number(process.env.BENCH_BGP_PREFIXES ?? 10_000),
): Promise<Row[]> {
  if (process.getuid?.() !== 0) return [{ measure: 'BGP', result: 'skipped: not root', goal: '' }];
  try {
    cmd('gobgpd', ['--version']);
  } catch {
    return [{ measure: 'BGP', result: 'skipped: no gobgpd (apt-get install gobgpd)', goal: '' }];
  }
  const td = new Teardown();
  try {
    const g = await gobgpRun(td, n);
    const a = await agentRun(td, n);
    const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    const per = (ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en')}/s`;
    const k = n.toLocaleString('en');
    const [gx, ax] = [g.transfer, a.transfer];
    return [
      [
        `gobgpd → gobgpd: enable → ${k} prefixes in the receiver's RIB (median of ${ROUNDS})`,
        sec(g.all),
        'baseline',
      ],
      ['  Established → all (the transfer)', `${sec(gx)} (${per(gx)})`, 'baseline'],
      [
        `agent → gobgpd: enable → ${k} prefixes in the receiver's RIB (median of ${ROUNDS})`,
        sec(a.all),
        '',
      ],
      ['  Established → all (the transfer)', `${sec(ax)} (${per(ax)})`, ''],
      ['agent speed / gobgpd speed, transfer', `${(gx / ax).toFixed(2)}×`, '≥ 0.5×'],
      // gobgpd's connect timer (5–10 s after enable) dominates this one.
      ['agent speed / gobgpd speed, enable → all', `${(g.all / a.all).toFixed(2)}×`, ''],
      [
        `agent RSS: healthy, no services → ${k} services advertised`,
        `${(a.rssIdle / 1024).toFixed(0)} → ${(a.rss / 1024).toFixed(0)} MiB`,
        '',
      ],
    ].map(([measure = '', result = '', goal = '']) => ({ measure, result, goal }));
  } finally {
    await td.run();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchBgp()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
