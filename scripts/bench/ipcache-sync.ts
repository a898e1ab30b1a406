// Ipcache sync benchmark: two agents against a real etcd started here. Agent A is the built
// agent (a process); agent B is the whole agent in this process (in-memory maps, so its
// cellium_ipcache is read directly). 100 endpoints are created on A one at a time through the API,
// as the CNI plugin does; for each, the time from A's answer to the PUT to the IP → identity entry
// being in B's cellium_ipcache (B's ipcache row reconciled 'done', then checked in the map).
// `npm run build && npx tsx scripts/bench/ipcache-sync.ts` runs it on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agent } from '../../cells/agent.js';
import { HostLinks } from '../../cells/endpoint/index.js';
import { MemoryLinks } from '../../cells/endpoint/links.memory.js';
import { IpcacheTable } from '../../cells/ipcache/index.js';
import { DatapathMaps, ipcacheKeyOf } from '../../cells/maps/index.js';
import { CelliumClient } from '../../core/api/typed-client.js';
import { Hive, newRootLogger, provide } from '../../core/hive/index.js';
import { freePort } from '../../core/testing/ports.js';
import { type Row, pct } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ETCD = process.env.CELLIUM_TEST_ETCD ?? 'etcd';

/** Starts etcd on free loopback ports in `dir`; resolves once it serves clients. */
async function startEtcd(dir: string): Promise<{ endpoint: string; proc: ChildProcess }> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const name = `cellium-bench-${process.pid}`;
  const proc = spawn(
    ETCD,
    [
      ...['--name', name, '--data-dir', join(dir, 'etcd')],
      ...['--listen-client-urls', endpoint, '--advertise-client-urls', endpoint],
      ...['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
      ...['--initial-cluster', `${name}=${peerUrl}`],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      log = (log + d.toString()).slice(-8192);
      if (log.includes('ready to serve client requests')) resolve();
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`etcd exited (${code}):\n${log}`)));
  });
  return { endpoint, proc };
}

/** Starts the built agent A; resolves once its hive has started. */
async function startAgentA(dir: string, args: string[]): Promise<ChildProcess> {
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'cellium-agent.cjs'),
      `--socket-path=${join(dir, 'a', 'api.sock')}`,
      `--state-dir=${join(dir, 'a', 'state')}`,
      `--bpf-root=${join(dir, 'a', 'bpf')}`,
      '--bpf-backend=memory',
      '--agent-health-port=0',
      '--enable-health-checking=false',
      '--enable-endpoint-health-checking=false',
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-65536);
      if (log.includes('"hive started"')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`agent A exited (${code}):\n${log}`)));
  });
  return proc;
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

/** Runs the benchmark: `n` endpoints; one row saying why when it cannot run. */
export async function benchIpcacheSync(n = 100): Promise<Row[]> {
  if (!existsSync(join(ROOT, 'dist', 'cellium-agent.cjs')))
    return [{ measure: 'ipcache sync', result: 'skipped: no dist (npm run build)', goal: '' }];
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-ipcache-'));
  // Each agent's sockets (API, monitor) and state in a directory of its own.
  for (const d of ['a', 'b']) mkdirSync(join(dir, d));
  const procs: ChildProcess[] = [];
  let hiveB: Hive | undefined;
  try {
    const etcd = await startEtcd(dir);
    procs.push(etcd.proc);
    const kv = ['--kvstore=etcd', `--kvstore-opt=etcd.address=${etcd.endpoint}`];
    const a = await startAgentA(dir, [
      ...kv,
      '--node-name=bench-a',
      '--ipv4-node=192.0.2.1',
      '--ipv6-node=',
      '--ipv4-range=10.61.0.0/24',
      '--enable-ipv6=false',
    ]);
    procs.push(a);
    hiveB = new Hive([agent], {
      config: {
        values: {
          'socket-path': join(dir, 'b', 'api.sock'),
          'state-dir': join(dir, 'b', 'state'),
          'bpf-root': join(dir, 'b', 'bpf'),
          'bpf-backend': 'memory',
          'agent-health-port': 0,
          'enable-health-checking': false,
          'enable-endpoint-health-checking': false,
          kvstore: 'etcd',
          'kvstore-opt': `etcd.address=${etcd.endpoint}`,
          'node-name': 'bench-b',
          'ipv4-node': '192.0.2.2',
          'ipv6-node': '',
          'ipv4-range': '10.62.0.0/24',
          'enable-ipv6': false,
        },
      },
      overrides: [provide(HostLinks, {}, () => new MemoryLinks())],
      logger: newRootLogger({ silent: true }),
    });
    await hiveB.start();
    const table = hiveB.get(IpcacheTable);
    const map = hiveB.get(DatapathMaps).ipcache;
    // When each prefix first showed up reconciled in B.
    const done = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    const sub = table.observe().subscribe((changes) => {
      const now = performance.now();
      for (const c of changes) {
        const e = c.object;
        if (c.deleted || e.source !== 'kvstore' || e.status.kind !== 'done') continue;
        if (!done.has(e.prefix)) done.set(e.prefix, now);
        waiters.get(e.prefix)?.();
      }
    });
    const api = new CelliumClient(join(dir, 'a', 'api.sock'));
    const lat: number[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const owner = `bench/pod${i}`;
        const ip = (await api.postIpam({ query: { owner } })).address.ipv4 ?? '';
        const prefix = `${ip}/32`;
        const seen = new Promise<void>((resolve) => {
          waiters.set(prefix, resolve);
          if (done.has(prefix)) resolve();
        });
        await api.putEndpointID({
          params: { id: 'cilium-local:0' },
          body: {
            addressing: { ipv4: ip },
            'container-id': `${i}`.padStart(64, '0'),
            'k8s-namespace': 'bench',
            'k8s-pod-name': `pod${i}`,
            labels: [`k8s:app=app${i % 10}`],
            state: 'waiting-for-identity',
            'sync-build-endpoint': true,
          },
        });
        const acked = performance.now();
        await seen;
        waiters.delete(prefix);
        if (map.lookup(ipcacheKeyOf(prefix)) === undefined) {
          throw new Error(`${prefix} reconciled in B's table but not in its map`);
        }
        // Reached B before A's answer: 0.
        lat.push(Math.max(0, (done.get(prefix) ?? acked) - acked));
      }
    } finally {
      sub.unsubscribe();
      api.close();
    }
    const ms = (v: number): string => `${v.toFixed(1)} ms`;
    return [
      { measure: `endpoints created on A, one at a time`, result: String(n), goal: '' },
      { measure: "A's PUT answer → B's cellium_ipcache, p50", result: ms(pct(lat, 50)), goal: '' },
      { measure: '  p90', result: ms(pct(lat, 90)), goal: '' },
      { measure: '  p99', result: ms(pct(lat, 99)), goal: '< 200 ms' },
      { measure: '  max', result: ms(Math.max(...lat)), goal: '' },
    ];
  } finally {
    await hiveB?.stop();
    for (const p of procs.reverse()) {
      p.kill('SIGKILL');
      await exited(p);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run on its own: `npx tsx scripts/bench/ipcache-sync.ts`.
if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchIpcacheSync())
    console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
