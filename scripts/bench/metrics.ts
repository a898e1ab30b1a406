// Metrics benchmark: GET /v1/healthz throughput of the built agent with metrics on (serving
// --prometheus-serve-addr, scraped every second while loaded) against the same agent without,
// in alternating rounds of the same run. `tsx scripts/bench/metrics.ts` runs it on its own
// (after `npm run build`).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../core/testing/ports.js';
import { pct, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AGENT = join(ROOT, 'dist', 'cellium-agent.cjs');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? 3);

function get(agent: Agent, socketPath: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, agent, path, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Running {
  readonly socket: string;
  stop(): Promise<void>;
}

async function start(dir: string, bpfRoot: string, args: readonly string[]): Promise<Running> {
  const socket = join(dir, 'api.sock');
  const proc = spawn(
    process.execPath,
    [
      AGENT,
      `--socket-path=${socket}`,
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${bpfRoot}`,
      // Two agents at once in the host's namespace: neither takes the kubelet port or runs
      // cellium-health (its namespace and port 4240 would collide).
      '--agent-health-port=0',
      '--enable-health-checking=false',
      '--enable-endpoint-health-checking=false',
      ...args,
    ],
    { stdio: 'ignore' },
  );
  const agent = new Agent({ keepAlive: false });
  const t0 = performance.now();
  while ((await get(agent, socket, '/v1/healthz').catch(() => 0)) !== 200) {
    if (proc.exitCode !== null) throw new Error(`agent exited (${proc.exitCode})`);
    if (performance.now() - t0 > 30_000) throw new Error('agent did not answer in 30 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    socket,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) {
          resolve();
          return;
        }
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** GET /v1/healthz from CONCURRENCY keep-alive clients for SECONDS: requests per second. */
async function load(socket: string): Promise<{ rps: number; p99: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      if ((await get(agent, socket, '/v1/healthz').catch(() => 0)) !== 200) errors++;
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: lat.length / secs, p99: pct(lat, 99), errors };
}

/** Rows of the metrics benchmark: healthz req/s with metrics on and off, alternating rounds. */
export async function benchMetrics(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-metrics-'));
  const root = process.getuid?.() === 0;
  const bpf = (name: string) =>
    root ? `/sys/fs/bpf/cellium-bench-metrics-${process.pid}-${name}` : join(dir, `bpf-${name}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/metrics`;
  const agents: Running[] = [];
  try {
    const off = await start(join(dir, 'off'), bpf('off'), []);
    agents.push(off);
    const on = await start(join(dir, 'on'), bpf('on'), [
      `--prometheus-serve-addr=127.0.0.1:${port}`,
    ]);
    agents.push(on);
    let scrapes = 0;
    let scrapeBytes = 0;
    const scrape = async () => {
      const r = await fetch(url);
      scrapeBytes = (await r.text()).length;
      if (r.status === 200) scrapes++;
    };
    await scrape();
    // Warm both up (JIT, validators), then alternate: off, on, off, on, ...
    await load(off.socket);
    await load(on.socket);
    const results = { off: [] as number[], on: [] as number[] };
    let errors = 0;
    let p99 = { off: 0, on: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const a = await load(off.socket);
      results.off.push(a.rps);
      const timer = setInterval(() => void scrape().catch(() => undefined), 1000);
      let b: Awaited<ReturnType<typeof load>>;
      try {
        b = await load(on.socket);
      } finally {
        clearInterval(timer);
      }
      results.on.push(b.rps);
      errors += a.errors + b.errors;
      p99 = { off: Math.max(p99.off, a.p99), on: Math.max(p99.on, b.p99) };
    }
    const med = (xs: number[]) => pct(xs, 50);
    const ratio = med(results.on) / med(results.off);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
    return [
      {
        measure: `GET /v1/healthz, metrics off (${CONCURRENCY} clients, ${ROUNDS} rounds)`,
        result: `${fmt(results.off)} req/s`,
        goal: '',
      },
      {
        measure: 'GET /v1/healthz, metrics on, scraped every second',
        result: `${fmt(results.on)} req/s (${scrapes} scrapes of ${(scrapeBytes / 1024).toFixed(0)} KiB)`,
        goal: '',
      },
      { measure: '→ on / off (medians)', result: `**${ratio.toFixed(2)}×**`, goal: '≥ 0.9×' },
      {
        measure: '  latency p99, off / on (worst round)',
        result: `${p99.off.toFixed(2)} / ${p99.on.toFixed(2)} ms`,
        goal: '',
      },
      { measure: '  errors', result: String(errors), goal: '0' },
    ];
  } finally {
    for (const a of agents) await a.stop();
    rmSync(dir, { recursive: true, force: true });
    if (root) for (const n of ['off', 'on']) rmSync(bpf(n), { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchMetrics()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
