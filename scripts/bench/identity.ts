// Identity allocation against a real etcd (Debian's /usr/bin/etcd, started here): new label
// sets allocated one at a time and 16 in flight on one node, then the same label sets on a
// second node (found in the cluster, not created). Each node is a hive of the kvstore and
// identity cells in this process. Alone: `npx tsx scripts/bench/identity.ts`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hive, newRootLogger } from '../../core/hive/index.js';
import { apiCell } from '../../cells/api/index.js';
import { daemonCell } from '../../cells/daemon/index.js';
import { IdentityAllocator, identityCell } from '../../cells/identity/index.js';
import { kvstoreCell } from '../../cells/kvstore/index.js';
import { freePort } from '../../core/testing/ports.js';
import { pct, type Row } from './table.js';

const N = Number(process.env.BENCH_IDENTITIES ?? 2000);
const IN_FLIGHT = 16;

/** Starts etcd on free loopback ports with its data in `dir`; resolves once it serves. */
async function startEtcd(dir: string): Promise<{ endpoint: string; proc: ChildProcess }> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const name = `cellium-bench-${process.pid}`;
  const proc = spawn(
    process.env.CELLIUM_TEST_ETCD || 'etcd',
    [
      ...['--name', name, '--data-dir', join(dir, 'etcd')],
      ...['--listen-client-urls', endpoint, '--advertise-client-urls', endpoint],
      ...['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
      ...['--initial-cluster', `${name}=${peerUrl}`],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (d: Buffer) => {
      log = (log + d.toString()).slice(-8192);
      if (log.includes('ready to serve client requests')) resolve();
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`etcd exited (${code}) before serving:\n${log}`)));
  });
  return { endpoint, proc };
}

/** Allocates every label set, `inFlight` at a time; each allocation's latency (ms). */
async function allocateAll(
  ids: IdentityAllocator,
  sets: readonly string[][],
  inFlight: number,
): Promise<{ ms: number; lat: number[] }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < sets.length) {
        const labels = sets[next++] ?? [];
        const t = performance.now();
        await ids.allocate(labels);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { ms: performance.now() - t0, lat };
}

function row(measure: string, r: { ms: number; lat: number[] }, n: number): Row {
  return {
    measure,
    result: `${((n / r.ms) * 1000).toFixed(0)} alloc/s (p50 ${pct(r.lat, 50).toFixed(1)} ms, p99 ${pct(r.lat, 99).toFixed(1)} ms)`,
    goal: '',
  };
}

/** Rows of the identity benchmark. */
export async function benchIdentity(n = N): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-ident-'));
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  try {
    etcd = await startEtcd(dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return [{ measure: 'identity allocation against etcd', result: `skipped: ${why}`, goal: '' }];
  }
  const nodes = ['n1', 'n2'].map(
    (name) =>
      new Hive([apiCell, daemonCell, kvstoreCell, identityCell], {
        config: {
          values: {
            'node-name': name,
            'socket-path': join(dir, `${name}.sock`),
            'state-dir': join(dir, name),
            kvstore: 'etcd',
            'kvstore-opt': `etcd.address=${etcd.endpoint}`,
          },
        },
        logger: newRootLogger({ silent: true }),
        rootId: name,
      }),
  );
  try {
    for (const h of nodes) await h.start();
    const [a, b] = nodes.map((h) => h.get(IdentityAllocator)) as [
      IdentityAllocator,
      IdentityAllocator,
    ];
    const sets = (tag: string) =>
      Array.from({ length: n }, (_, i) => [
        `k8s:app=${tag}${i}`,
        'k8s:io.kubernetes.pod.namespace=bench',
      ]);
    await allocateAll(a, sets('warm').slice(0, 100), 1); // connections, locks' lease
    const seq = await allocateAll(a, sets('seq'), 1);
    const par = await allocateAll(a, sets('par'), IN_FLIGHT);
    const again = await allocateAll(b, sets('seq'), 1);
    const againPar = await allocateAll(b, sets('par'), IN_FLIGHT);
    const local = await allocateAll(a, sets('seq'), 1);
    return [
      row(`${n} new label sets, one at a time`, seq, n),
      row(`${n} new label sets, ${IN_FLIGHT} in flight`, par, n),
      row(`the same ${n} on a second node, one at a time`, again, n),
      row(`the same ${n} on a second node, ${IN_FLIGHT} in flight`, againPar, n),
      row(`the same ${n} again on the first node (local references)`, local, n),
    ];
  } finally {
    for (const h of nodes.reverse()) await h.stop().catch(() => undefined);
    etcd.proc.kill('SIGKILL');
    await new Promise((r) => (etcd.proc.exitCode === null ? etcd.proc.once('exit', r) : r(0)));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of await benchIdentity()) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
