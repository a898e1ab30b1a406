// Foundation benchmarks: agent cold start → healthy, and GET /v1/healthz throughput over the
// unix socket. Prints a table; `npm run bench` builds first and runs the built agent.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchBgp } from './bgp.js';
import { benchIdentity } from './identity.js';
import { benchIpcacheSync } from './ipcache-sync.js';
import { benchK8sRss } from './k8s-rss.js';
import { benchK8sServices } from './k8s-services.js';
import { benchLbDatapath } from './lb-datapath.js';
import { benchLb, benchLbAgent } from './lb.js';
import { benchMaps } from './maps.js';
import { benchMetrics } from './metrics.js';
import { benchMonitor } from './monitor.js';
import { benchPods } from './pods.js';
import { benchPolicy, benchPolicyAgent } from './policy.js';
import { benchRestore } from './restore.js';
import { benchRouting } from './routing.js';
import { pct } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AGENT = join(ROOT, 'dist', 'cellium-agent.cjs');
const STARTS = Number(process.env.BENCH_STARTS ?? 10);

/** The agent's code cache beside its bundle (the launcher names the bundle). */
function agentCodeCache(): string {
  const launcher = readFileSync(AGENT, 'utf8');
  const bundle = /cellium-agent\.bundle\.[\w-]+\.cjs/.exec(launcher)?.[0] ?? 'no-bundle';
  return join(ROOT, 'dist', `.${bundle}.v8-cache`);
}

/** Whether the launcher has written the agent's code cache. */
function hasCodeCache(): boolean {
  return existsSync(agentCodeCache());
}
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);

function get(
  agent: Agent,
  socketPath: string,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, agent, path, headers: { host: 'localhost' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function startAgent(
  dir: string,
): Promise<{ ms: number; stop: () => Promise<void>; socket: string }> {
  const socket = join(dir, 'api.sock');
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [
      AGENT,
      `--socket-path=${socket}`,
      '--enable-health-checking=false',
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${BPF_ROOT}`,
      // Several agents run at once here: none takes the kubelet's health port.
      '--agent-health-port=0',
    ],
    {
      stdio: 'ignore',
    },
  );
  const agent = new Agent({ keepAlive: false });
  for (;;) {
    const r = await get(agent, socket, '/v1/healthz?').catch(() => undefined);
    if (
      r?.status === 200 &&
      (JSON.parse(r.body) as { cilium: { state: string } }).cilium.state === 'Ok'
    )
      break;
    if (performance.now() - t0 > 30_000) throw new Error('agent did not become healthy in 30 s');
    await new Promise((res) => setTimeout(res, 2));
  }
  const ms = performance.now() - t0;
  return {
    ms,
    socket,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

async function throughput(
  socket: string,
): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      const r = await get(agent, socket, '/v1/healthz').catch(() => undefined);
      if (r?.status !== 200) errors++;
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-'));
// The agents of this benchmark pin their maps here, not in the node's /sys/fs/bpf/tc/globals.
const BPF_ROOT =
  process.getuid?.() === 0 ? `/sys/fs/bpf/cellium-bench-${process.pid}` : join(dir, 'bpf');
try {
  // A start without a code cache (as the first after a build) writes one a few seconds in (see
  // scripts/launcher.ts); it is kept up until it has, and shown on its own.
  rmSync(agentCodeCache(), { force: true });
  const first = await startAgent(join(dir, 'first'));
  for (let t = performance.now(); !hasCodeCache() && performance.now() - t < 15_000;)
    await new Promise((res) => setTimeout(res, 50));
  await first.stop();
  const starts: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    // `node -e 0` alternating with the starts: what starting Node costs here and now.
    const b0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    base.push(performance.now() - b0);
    const a = await startAgent(join(dir, `s${i}`));
    starts.push(a.ms);
    await a.stop();
  }
  const a = await startAgent(join(dir, 'tp'));
  await throughput(a.socket); // warm-up run is measured again below
  const tp = await throughput(a.socket);
  await a.stop();

  const rows: [string, string, string][] = [
    [
      '`node -e 0` (alternating with the starts), p50',
      `${pct(base, 50).toFixed(0)} ms`,
      'baseline',
    ],
    [
      'start without a code cache (the first after a build) → healthy',
      `${first.ms.toFixed(0)} ms`,
      hasCodeCache() ? '' : 'no code cache written',
    ],
    ['cold start → healthy, p50', `${pct(starts, 50).toFixed(0)} ms`, '< 150 ms'],
    ['cold start → healthy, max', `${Math.max(...starts).toFixed(0)} ms`, ''],
    [`GET /v1/healthz, ${CONCURRENCY} clients`, `${tp.rps.toFixed(0)} req/s`, '≥ 5,000 req/s'],
    ['  latency p50 / p99', `${tp.p50.toFixed(2)} / ${tp.p99.toFixed(2)} ms`, ''],
    ['  errors', String(tp.errors), '0'],
  ];
  console.log(
    `\nCellium foundation benchmark (${cpus().length} CPUs, node ${process.version}, ${STARTS} starts, ${SECONDS} s load)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);

  console.log(
    `\nMetrics: the built agent with --prometheus-serve-addr, scraped every second, against it without (alternating rounds)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchMetrics()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  const n = Number(process.env.BENCH_MAP_ENTRIES ?? 1_000_000);
  console.log(
    `\nMap updates: hash map, ${n} entries, u32 key, 16-byte value (same run, same machine)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of benchMaps(n)) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nIdentities: kvstore allocation against a real etcd (two nodes' hives in this process)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchIdentity()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(`\nRestore: the built agent starts on persisted endpoints (in-memory maps)\n`);
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchRestore()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(`\nPods: the agent in a node network namespace, cellium-cni as a runtime runs it\n`);
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchPods()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nLoad balancer control plane: services through the Writer (in this process), then the built agent through its API\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of [...(await benchLb()), ...(await benchLbAgent())])
    console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nPolicy: 1,000 endpoints × 200 rules, in this process (the control plane's hive), then the built agent through its API\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of [...(await benchPolicy()), ...(await benchPolicyAgent())])
    console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nClusterIP datapath: pod to pod directly and through a ClusterIP, interleaved in each round\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchLbDatapath())
    console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nPod to pod between nodes: two node namespaces, native routes then VXLAN, iperf3 one stream\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchRouting()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nIpcache across the cluster: 100 endpoints created on agent A (the built agent) one at a time; A's answer → the entry in agent B's cellium_ipcache (B in this process, in-memory maps), one real etcd\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchIpcacheSync())
    console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nMonitor: bpf_xdp drops (BPF_PROG_TEST_RUN) into the built agent's ring, a client on its monitor socket\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchMonitor()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nKubernetes services: a Service + EndpointSlice created in the API server double → the built agent's pinned LB map\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchK8sServices())
    console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
  console.log(
    `\nKubernetes memory: the built agent syncs 5,000 pods, 2,000 services, 500 policies from the API server double\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchK8sRss()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);

  console.log(
    `\nBGP: 10,000 LoadBalancer addresses from the built agent into gobgpd's RIB, against gobgpd sending the same 10,000 to gobgpd (routers in their own namespaces, root)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchBgp()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(BPF_ROOT, { recursive: true, force: true });
}
