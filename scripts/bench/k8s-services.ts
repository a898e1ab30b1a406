// Kubernetes services benchmark (root: the LB maps are the kernel's): the time from a Service and
// its EndpointSlice created in the API server double (test/support/apiserver.ts, in this process)
// to the frontend's master entry in the pinned cellium_lb4_services_v2 counting its backends,
// one service at a time, over N services (BENCH_K8S_SERVICES, default 1,000). First the built
// agent (dist/, a process of its own, as a node runs it), the map read through a read-only handle
// on its pin; then the same agent as a hive in this process, each change timestamped where it
// passes (the reflected tables, the load balancer's frontends, the reconciled map entry) to say
// where the time goes. `npm run build && npx tsx scripts/bench/k8s-services.ts` runs it alone.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agent } from '../../cells/agent.js';
import { K8sResources } from '../../cells/k8s/index.js';
import { LbMaps, LbTables } from '../../cells/loadbalancer/index.js';
import { StateDB } from '../../cells/statedb/index.js';
import { MapType, openKernelMapById, type RawMap } from '../../core/bpf/index.js';
import { Hive, newRootLogger } from '../../core/hive/index.js';
import { startApiServer, type ApiServerDouble } from '../../test/support/apiserver.js';
import { type Row, pct } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const N = Number(process.env.BENCH_K8S_SERVICES ?? 1000);
const BACKENDS = 2;

interface Created {
  readonly name: string;
  readonly clusterIP: string;
}

/** Creates service `i` (ClusterIP allocated by the double) and then its EndpointSlice. */
function create(api: ApiServerDouble, run: string, i: number): Created {
  const name = `${run}-${i}`;
  const svc = api.create<object>('services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  }) as { spec: { clusterIP: string } };
  api.create('endpointslices', {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-x`,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': name },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: BACKENDS }, (_, j) => {
      const n = i * BACKENDS + j;
      return {
        addresses: [`10.${200 + ((n >> 16) & 15)}.${(n >> 8) & 255}.${n & 255}`],
        conditions: { ready: true },
      };
    }),
  });
  return { name, clusterIP: svc.spec.clusterIP };
}

/** The master entry's key of `ip:80/TCP`, external scope. */
function masterKey(ip: string): Buffer {
  const k = Buffer.alloc(12);
  ip.split('.').forEach((o, i) => k.writeUInt8(Number(o), i));
  k.writeUInt16BE(80, 4);
  k.writeUInt8(6, 8);
  return k;
}

/** Resolves once the map's master entry of `ip` counts BACKENDS backends (polled each ms). */
async function programmed(map: RawMap, ip: string): Promise<void> {
  const key = masterKey(ip);
  const v = Buffer.alloc(map.valueSize);
  for (;;) {
    if (map.lookup(key, v) && v.readUInt16LE(4) === BACKENDS) return;
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** A read-only handle on a pinned map (by its id: nothing checks or migrates the pin). */
function openPinned(path: string): RawMap {
  const info = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', path], { encoding: 'utf8' }),
  ) as {
    id: number;
    bytes_key: number;
    bytes_value: number;
    max_entries: number;
    flags?: number;
  };
  return openKernelMapById(info.id, {
    name: 'cellium_lb4_services_v2',
    type: MapType.Hash,
    keySize: info.bytes_key,
    valueSize: info.bytes_value,
    maxEntries: info.max_entries,
    flags: info.flags ?? 0,
  });
}

async function waitFor(what: string, ok: () => boolean, log: () => string): Promise<void> {
  for (const t = performance.now(); !ok();) {
    if (performance.now() - t > 60_000)
      throw new Error(`${what}: not within 60 s\n${log().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The built agent against the double: creation → master entry in the pinned map, p50/p99. */
async function builtAgent(api: ApiServerDouble): Promise<Row[]> {
  const id = `${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-k8s-'));
  const bpfRoot = `/sys/fs/bpf/cellium-bench-k8s-${id}`;
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'cellium-agent.cjs'),
      `--socket-path=${join(dir, 'api.sock')}`,
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${bpfRoot}`,
      '--enable-health-checking=false',
      '--enable-endpoint-health-checking=false',
      '--agent-health-port=0',
      `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
      '--node-name=bench-node',
      `--ipv4-range=10.${150 + (process.pid % 40)}.${Math.floor(Math.random() * 256)}.0/24`,
      '--bpf-lb-map-max=65536',
      '--bpf-ct-global-tcp-max=65536',
      '--bpf-ct-global-any-max=65536',
      '--bpf-nat-global-max=65536',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  proc.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-40_000)));
  let map: RawMap | undefined;
  try {
    await waitFor(
      'agent start',
      () => log.includes('"hive started"') || proc.exitCode !== null,
      () => log,
    );
    if (proc.exitCode !== null) throw new Error(`agent exited: ${log}`);
    const pin = join(bpfRoot, 'tc', 'globals', 'cellium_lb4_services_v2');
    await waitFor(
      'the agent watching services and endpointslices',
      () => {
        const open = (r: string) => api.openWatches().some((w) => w.resource.includes(r));
        return open('services') && open('endpointslices') && existsSync(pin);
      },
      () => log,
    );
    map = openPinned(pin);
    const lat: number[] = [];
    const creating: number[] = [];
    for (let i = 0; i < N; i++) {
      const tc = performance.now();
      const c = create(api, 'a', i);
      // From the moment both objects exist (the double's own work on them, in this process, apart).
      const t0 = performance.now();
      creating.push(t0 - tc);
      await programmed(map, c.clusterIP);
      lat.push(performance.now() - t0);
    }
    // A burst: N more created at once, until the last one is in the map.
    const t0 = performance.now();
    const burst = Array.from({ length: N }, (_, i) => create(api, 'b', i));
    const createdMs = performance.now() - t0;
    for (const c of burst) await programmed(map, c.clusterIP);
    const burstMs = performance.now() - t0;
    return [
      {
        measure: `Service + EndpointSlice created in the double → in the pinned map, one at a time (${N}; built agent), p50 / p99`,
        result: `**${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)} ms** (max ${Math.max(...lat).toFixed(1)})`,
        goal: '',
      },
      {
        measure:
          '  the double creating the two objects (before the above; its watch events go out then), p50 / p99',
        result: `${pct(creating, 50).toFixed(1)} / ${pct(creating, 99).toFixed(1)} ms`,
        goal: '',
      },
      {
        measure: `${N} more created at once → the last in the map (after the double's last create; the creating)`,
        result: `${(burstMs - createdMs).toFixed(0)} ms (creating them ${(createdMs / 1000).toFixed(2)} s, in this process)`,
        goal: '',
      },
    ];
  } finally {
    map?.close();
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
    rmSync(bpfRoot, { recursive: true, force: true });
  }
}

/** The agent as a hive in this process: each service's time split at the tables it passes. */
async function inProcess(api: ApiServerDouble): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-k8s-hive-'));
  const bpfRoot = `/sys/fs/bpf/cellium-bench-k8sh-${process.pid}`;
  const hive = new Hive([agent], {
    config: {
      values: {
        'socket-path': join(dir, 'api.sock'),
        'enable-health-checking': false,
        'enable-endpoint-health-checking': false,
        'agent-health-port': 0,
        'state-dir': join(dir, 'state'),
        'bpf-root': bpfRoot,
        'bpf-backend': 'kernel',
        'k8s-kubeconfig-path': api.kubeconfigPath,
        'node-name': 'bench-node',
        'ipv4-range': `10.${190 + (process.pid % 10)}.${Math.floor(Math.random() * 256)}.0/24`,
        'bpf-lb-map-max': 65536,
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
    const res = hive.get(K8sResources);
    const { frontends } = hive.get(LbTables);
    await res.services.waitSynced();
    await res.endpointSlices.waitSynced();
    const map = hive.get(LbMaps).open.v4.services;
    const split = {
      reflected: [] as number[],
      written: [] as number[],
      programmed: [] as number[],
    };
    for (let i = 0; i < N; i++) {
      const c = create(api, 'c', i);
      const t0 = performance.now();
      const sliceKey = `default/${c.name}-x`;
      const feKey = `${c.clusterIP}:80/TCP`;
      const stamps: { reflected?: number; written?: number } = {};
      const sub = db.commits$.subscribe(() => {
        const txn = db.readTxn();
        stamps.reflected ??= res.endpointSlices.table.get(txn, sliceKey)
          ? performance.now()
          : undefined;
        stamps.written ??=
          (frontends.get(txn, feKey)?.backends.length ?? 0) === BACKENDS
            ? performance.now()
            : undefined;
      });
      const raw = map.raw;
      await programmed(raw, c.clusterIP);
      const t1 = performance.now();
      sub.unsubscribe();
      const r = (stamps.reflected ?? t1) - t0;
      const w = (stamps.written ?? t1) - t0;
      split.reflected.push(r);
      split.written.push(w - r);
      split.programmed.push(t1 - t0 - w);
    }
    const row = (m: string, xs: number[]): Row => ({
      measure: m,
      result: `${pct(xs, 50).toFixed(2)} / ${pct(xs, 99).toFixed(2)} ms`,
      goal: '',
    });
    return [
      row(
        '  in-process agent: created → the slice in the reflected table (watch, client-node, reflector), p50 / p99',
        split.reflected,
      ),
      row(
        '  → the frontend with its backends in the LB tables (batching, translation, Writer)',
        split.written,
      ),
      row(
        '  → its master entry in the kernel map (reconciler round, map writes)',
        split.programmed,
      ),
    ];
  } finally {
    // The pins go even when the hive's stop throws (they outlive the process otherwise).
    try {
      await hive.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(bpfRoot, { recursive: true, force: true });
    }
  }
}

/** Rows of the Kubernetes services benchmark. */
export async function benchK8sServices(): Promise<Row[]> {
  const measure = 'Kubernetes Service + EndpointSlice → LB maps';
  if (process.getuid?.() !== 0) return [{ measure, result: 'skipped: needs root', goal: '' }];
  if (!existsSync(join(ROOT, 'dist', 'cellium-agent.cjs')))
    return [{ measure, result: 'skipped: no dist/ (npm run build)', goal: '' }];
  const rows: Row[] = [];
  for (const part of [builtAgent, inProcess]) {
    const api = await startApiServer();
    try {
      rows.push(...(await part(api)));
    } finally {
      await api.stop();
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchK8sServices();
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
