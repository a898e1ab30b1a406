// Load balancer control plane benchmark: the whole agent in this process (kernel maps as root,
// in memory otherwise), 10,000 services of 10 backends each written through the Writer (as a
// data source writes them, 100 services per transaction) until every frontend is reconciled into
// the maps; then the latency of one backend change reaching the map, and the process's memory
// holding those services. `npx tsx scripts/bench/lb.ts` runs it on its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

interface Row {
  readonly measure: string;
  readonly result: string;
  readonly goal: string;
}

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

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
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
        measure: `agent RSS with ${SERVICES} services (heap used)`,
        result: `${(rss / 2 ** 20).toFixed(0)} MB (${(heap / 2 ** 20).toFixed(0)} MB; ${((rss - rssBefore) / 2 ** 20).toFixed(0)} MB more than before them)`,
        goal: '< 250 MB',
      },
      { measure: '  map writes', result: String(lb.ops.writes), goal: '' },
    ];
  } finally {
    await hive.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bpfRoot, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchLb();
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
