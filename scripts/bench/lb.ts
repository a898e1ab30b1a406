// Load balancer control plane benchmark: the whole agent in this process (kernel maps as root,
// in memory otherwise), 10,000 services of 10 backends each written through the Writer (as a
// data source writes them, 100 services per transaction) until every frontend is reconciled into
// the maps; then the latency of one backend change reaching the map. Then the built agent
// (dist/, as a node runs it) given the same services over its REST API, and its memory holding
// them. `npm run build && npx tsx scripts/bench/lb.ts` runs it on its own.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../core/api/index.js';
import { agent } from '../../cells/agent.js';
import {
  LbMaps,
  LbTables,
  LbWriter,
  Loadbalancer,
  type BackendParams,
  type Service,
} from '../../cells/loadbalancer/index.js';
import { StateDB } from '../../cells/statedb/index.js';
import { Hive, newRootLogger } from '../../core/hive/index.js';
import { type Row, pct } from './table.js';

const SERVICES = Number(process.env.BENCH_LB_SERVICES ?? 10_000);
const BACKENDS = Number(process.env.BENCH_LB_BACKENDS ?? 10);
const PER_TXN = 100;
const CHANGES = 200;

function service(i: number): Service {
  return {
    key: `bench/svc-${i}`,
    namespace: 'bench',
    name: `svc-${i}`,
    cluster: '',
    source: 'k8s',
    extTrafficPolicy: 'Cluster',
    intTrafficPolicy: 'Cluster',
    natPolicy: '',
    healthCheckNodePort: 0,
    sessionAffinity: false,
    sessionAffinityTimeoutSec: 0,
    sourceRanges: [],
    algorithm: undefined,
  };
}

const vip = (i: number): string => `10.96.${(i >> 8) & 255}.${i & 255}`;
const backendIp = (i: number, j: number): string => {
  const n = i * BACKENDS + j;
  return `10.${128 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
};

function backends(i: number, port = 8080): BackendParams[] {
  return Array.from({ length: BACKENDS }, (_, j) => ({
    ip: backendIp(i, j),
    port,
    protocol: 'tcp' as const,
    state: 'active' as const,
    weight: 100,
    zone: '',
    nodeName: '',
  }));
}

/** Rows of the LB control plane benchmark. */
export async function benchLb(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-lb-'));
  const root = process.getuid?.() === 0;
  const bpfRoot = root ? `/sys/fs/bpf/cellium-bench-lb-${process.pid}` : join(dir, 'bpf');
  const hive = new Hive([agent], {
    config: {
      values: {
        'socket-path': join(dir, 'api.sock'),
        'enable-health-checking': false,
        'enable-endpoint-health-checking': false,
        'agent-health-port': 0,
        'state-dir': join(dir, 'state'),
        'bpf-root': bpfRoot,
        'bpf-backend': root ? 'kernel' : 'memory',
        'bpf-lb-service-map-max': 262144,
        'bpf-lb-service-backend-map-max': 262144,
        'bpf-ct-global-tcp-max': 65536,
        'bpf-ct-global-any-max': 65536,
        'bpf-nat-global-max': 65536,
      },
    },
    logger: newRootLogger({ silent: true }),
  });
  try {
    await hive.start();
    const db = hive.get(StateDB);
    const { frontends } = hive.get(LbTables);
    const w = hive.get(LbWriter);
    const lb = hive.get(Loadbalancer);
    const rssBefore = process.memoryUsage().rss;

    const t0 = performance.now();
    for (let base = 0; base < SERVICES; base += PER_TXN) {
      w.update((t) => {
        for (let i = base; i < Math.min(SERVICES, base + PER_TXN); i++) {
          const s = t.upsertService(service(i));
          t.upsertFrontend({
            address: { ip: vip(i), port: 80, protocol: 'tcp', scope: 'external' },
            type: 'ClusterIP',
            serviceKey: s.key,
            portName: 'http',
          });
          t.setBackends(s.key, 'http', backends(i));
        }
      });
    }
    const written = performance.now() - t0;
    // Every change tried by the reconciler, then each frontend checked once: all in the maps.
    await lb.reconciler.waitUntilReconciled(frontends.revision(db.readTxn()));
    const total = performance.now() - t0;
    const notDone = [...frontends.all(db.readTxn())].filter((f) => f.status.kind !== 'done');
    if (notDone.length > 0 || frontends.count(db.readTxn()) !== SERVICES) {
      throw new Error(
        `${notDone.length} frontends not reconciled: ${notDone[0]?.status.error ?? ''}`,
      );
    }
    const maps = hive.get(LbMaps).open.v4;
    const entries = { services: maps.services.count(), backends: maps.backends.count() };

    // One backend change at a time, each waited for until its frontend is reconciled.
    const lat: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const i = (k * 7919) % SERVICES;
      const key = `${vip(i)}:80/TCP`;
      const changed = new Promise<void>((resolve) => {
        const sub = db.commits$.subscribe(() => {
          const f = frontends.get(db.readTxn(), key);
          if (f?.status.kind === 'done' && f.backends.some((b) => b.port === 9000 + (k % 2))) {
            sub.unsubscribe();
            resolve();
          }
        });
      });
      const t = performance.now();
      w.update((tx) => {
        const bes = backends(i);
        const first = bes[0];
        if (first) bes[0] = { ...first, port: 9000 + (k % 2) };
        tx.setBackends(`bench/svc-${i}`, 'http', bes);
      });
      await changed;
      lat.push(performance.now() - t);
    }
    global.gc?.();
    const rss = process.memoryUsage().rss;
    const heap = process.memoryUsage().heapUsed;
    const sps = SERVICES / (total / 1000);
    return [
      {
        measure: `${SERVICES} services × ${BACKENDS} backends through the Writer → reconciled (${root ? 'kernel' : 'in-memory'} maps)`,
        result: `${(total / 1000).toFixed(2)} s (${sps.toFixed(0)} services/s; Writer ${(written / 1000).toFixed(2)} s)`,
        goal: '≥ 50,000 services/s',
      },
      {
        measure: '  map entries written (services / backends, IPv4)',
        result: `${entries.services} / ${entries.backends}`,
        goal: '',
      },
      {
        measure: `one backend change → in the map, p50 / p99 (${CHANGES} changes)`,
        result: `${pct(lat, 50).toFixed(2)} / ${pct(lat, 99).toFixed(2)} ms`,
        goal: 'p99 < 10 ms',
      },
      {
        measure: `this process (the hive in tsx) RSS with ${SERVICES} services (heap used)`,
        result: `${(rss / 2 ** 20).toFixed(0)} MB (${(heap / 2 ** 20).toFixed(0)} MB; ${((rss - rssBefore) / 2 ** 20).toFixed(0)} MB more than before them)`,
        goal: "(the agent's figure is below)",
      },
      { measure: '  map writes', result: String(lb.ops.writes), goal: '' },
    ];
  } finally {
    await hive.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bpfRoot, { recursive: true, force: true });
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const API_CONCURRENCY = 32;

/** A process's resident memory now and at its peak, MB (from /proc). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/**
 * The built agent in a network namespace of its own (kernel maps as root, in memory otherwise),
 * given SERVICES services of BACKENDS backends through PUT /v1/service (API_CONCURRENCY at a
 * time, each acknowledged once durable and realized); its RSS before and after.
 */
export async function benchLbAgent(): Promise<Row[]> {
  const agentJs = join(ROOT, 'dist', 'cellium-agent.cjs');
  if (!existsSync(agentJs))
    return [
      { measure: 'agent with services', result: 'skipped: no dist/ (npm run build)', goal: '' },
    ];
  const root = process.getuid?.() === 0;
  const id = `${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-lb-agent-'));
  const bpfRoot = root ? `/sys/fs/bpf/cellium-bench-lba-${id}` : join(dir, 'bpf');
  const ns = `cbench-lb-${id}`;
  const socket = join(dir, 'api.sock');
  const args = [
    agentJs,
    `--socket-path=${socket}`,
    '--enable-health-checking=false',
    `--state-dir=${join(dir, 'state')}`,
    `--bpf-root=${bpfRoot}`,
    // Several agents may run at once; the kubelet's health port is not what is measured.
    '--agent-health-port=0',
    `--bpf-backend=${root ? 'kernel' : 'memory'}`,
    '--bpf-lb-map-max=262144',
    '--bpf-ct-global-tcp-max=65536',
    '--bpf-ct-global-any-max=65536',
    '--bpf-nat-global-max=65536',
  ];
  if (root) execFileSync('ip', ['netns', 'add', ns]);
  const proc = root
    ? spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const api = new ApiClient(socket);
  try {
    for (const t = performance.now(); !log.includes('"hive started"');) {
      if (proc.exitCode !== null) throw new Error(`agent exited: ${log}`);
      if (performance.now() - t > 60_000) throw new Error(`agent did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // nsenter execs node: the same pid.
    const pid = proc.pid ?? 0;
    await new Promise((r) => setTimeout(r, 1000));
    const idle = memoryOf(pid);
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < SERVICES; i = next++) {
        const [ip, port] = [vip(i), 80];
        await api.request('PUT', `/service/${i + 1}`, {
          body: {
            id: i + 1,
            'frontend-address': { ip, port, protocol: 'tcp', scope: 'external' },
            'backend-addresses': backends(i).map((b) => ({ ip: b.ip, port: b.port, weight: 100 })),
            flags: { type: 'ClusterIP' },
          },
        });
      }
    };
    await Promise.all(Array.from({ length: API_CONCURRENCY }, worker));
    const secs = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const full = memoryOf(pid);
    return [
      {
        measure: `built agent: ${SERVICES} services × ${BACKENDS} backends through PUT /v1/service (${API_CONCURRENCY} at a time, each durable and realized)`,
        result: `${secs.toFixed(1)} s (${(SERVICES / secs).toFixed(0)} services/s)`,
        goal: '',
      },
      {
        measure: `built agent RSS with ${SERVICES} services (idle before; peak)`,
        result: `${full.rss.toFixed(0)} MB (${idle.rss.toFixed(0)} MB; ${full.hwm.toFixed(0)} MB)`,
        goal: '< 250 MB',
      },
    ];
  } finally {
    api.close();
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
    if (root) execFileSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(bpfRoot, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = [...(await benchLb()), ...(await benchLbAgent())];
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
