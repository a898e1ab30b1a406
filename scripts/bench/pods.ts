// Pod benchmarks (root): CNI ADD → endpoint ready latency over 100 pods (real network
// namespaces and veths), each ADD alternating with a `node -e 0` (the process-start baseline),
// agent RSS with 500 endpoints, and restart → all 500 restored, with the agent's own split of
// the restart. `npm run build && npx tsx scripts/bench/pods.ts` runs it on its own.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../core/api/index.js';
import type { RestoreSplit } from '../../cells/endpoint/restore-split.js';
import { type Row, pct } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function restoreSplit(log: string): RestoreSplit | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"endpoint restore timing"')) continue;
    return JSON.parse(line) as RestoreSplit;
  }
  return undefined;
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'ignore' });
}

async function startAgent(
  node: string,
  args: string[],
  log: string,
): Promise<{ pid: number; kill: (s: NodeJS.Signals) => Promise<void>; startedAt: number }> {
  const startedAt = performance.now();
  // Logs go to a file: this process blocks in spawnSync while CNI runs, and a pipe it does
  // not drain would stall the agent's (synchronous) logging.
  const out = openSync(log, 'a');
  const proc = spawn(
    'nsenter',
    [
      `--net=/run/netns/${node}`,
      process.execPath,
      join(ROOT, 'dist/cellium-agent.cjs'),
      '--agent-health-port=0',
      ...args,
    ],
    {
      stdio: ['ignore', 'ignore', out],
    },
  );
  closeSync(out);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  while (!readFileSync(log, 'utf8').includes('"hive started"')) {
    if (proc.exitCode !== null) throw new Error(`agent exited: ${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    pid: proc.pid ?? 0,
    startedAt,
    kill: (s) => {
      proc.kill(s);
      return exited;
    },
  };
}

/** Runs the pod benchmark; one row saying why when it cannot run. */
export async function benchPods(pods = 100, endpoints = 500): Promise<Row[]> {
  if (process.getuid?.() !== 0)
    return [{ measure: 'pods', result: 'skipped: needs root', goal: '' }];
  for (const f of ['cellium-agent.cjs', 'cellium-cni.cjs']) {
    if (!existsSync(join(ROOT, 'dist', f)))
      return [{ measure: 'pods', result: `skipped: no dist/${f} (npm run build)`, goal: '' }];
  }
  const id = Math.random().toString(16).slice(2, 8);
  const node = `cbench-${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-pods-'));
  const bpfRoot = `/sys/fs/bpf/cellium-bench-${id}`;
  const socket = join(dir, 'api.sock');
  const args = [
    `--socket-path=${socket}`,
    '--enable-health-checking=false',
    `--state-dir=${join(dir, 'state')}`,
    `--bpf-root=${bpfRoot}`,
    '--ipv4-range=10.253.0.0/22',
  ];
  const podNs: string[] = [];
  sh('ip', ['netns', 'add', node]);
  const log = join(dir, 'agent.log');
  writeFileSync(log, '');
  let agent = await startAgent(node, args, log);
  try {
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cellium',
      type: 'cellium-cni',
      'socket-path': socket,
    });
    const lat: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < pods; i++) {
      const ns = `cbp-${id}-${i}`;
      sh('ip', ['netns', 'add', ns]);
      podNs.push(ns);
      // The baseline through the same nsenter as the plugin, in the same round: what starting
      // Node costs here and now, so the ADD's own share is what it adds to this.
      const b0 = performance.now();
      const b = spawnSync('nsenter', [`--net=/run/netns/${node}`, process.execPath, '-e', '0']);
      base.push(performance.now() - b0);
      if (b.status !== 0) throw new Error(`node -e 0 failed: ${b.stderr.toString()}`);
      const t0 = performance.now();
      const r = spawnSync(
        'nsenter',
        [`--net=/run/netns/${node}`, process.execPath, join(ROOT, 'dist/cellium-cni.cjs')],
        {
          input: conf,
          env: {
            ...process.env,
            CNI_COMMAND: 'ADD',
            CNI_CONTAINERID: `bench-${id}-${i}`,
            CNI_NETNS: `/run/netns/${ns}`,
            CNI_IFNAME: 'eth0',
            CNI_ARGS: `K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod${i}`,
          },
        },
      );
      lat.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`CNI ADD ${i} failed: ${r.stdout.toString()}`);
    }
    // The rest of the endpoints through the API (no interfaces: restore and memory are measured).
    const api = new ApiClient(socket);
    for (let i = pods; i < endpoints; i++) {
      const a = await api.request<{ address: { ipv4: string } }>(
        'POST',
        `/ipam?family=ipv4&owner=bench%2Fep${i}`,
      );
      await api.request('PUT', '/endpoint/0', {
        body: {
          'container-id': `api-${id}-${i}`,
          'k8s-namespace': 'bench',
          'k8s-pod-name': `ep${i}`,
          addressing: { ipv4: a.address.ipv4 },
          labels: [`k8s:app=app${i % 20}`],
          state: 'waiting-for-identity',
          'sync-build-endpoint': true,
        },
      });
    }
    const rssMb =
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1] ?? 0) /
      1024;
    await agent.kill('SIGKILL');
    writeFileSync(log, '');
    agent = await startAgent(node, args, log);
    let restoreMs = NaN;
    for (;;) {
      const eps = await api
        .request<{ status: { state: string } }[]>('GET', '/endpoint')
        .catch(() => []);
      if (eps.length === endpoints && eps.every((e) => e.status.state === 'ready')) {
        restoreMs = performance.now() - agent.startedAt;
        break;
      }
      if (performance.now() - agent.startedAt > 60_000)
        throw new Error('endpoints not restored in 60 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    api.close();
    // The agent logs its split once the reconcilers are through, which may trail the API a bit.
    let split = restoreSplit(readFileSync(log, 'utf8'));
    for (let t = performance.now(); !split && performance.now() - t < 5_000;) {
      await new Promise((r) => setTimeout(r, 10));
      split = restoreSplit(readFileSync(log, 'utf8'));
    }
    const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
    const ms = (x: number): string => `${x.toFixed(0)} ms`;
    const addP50 = pct(lat, 50);
    const addP99 = pct(lat, 99);
    const baseP50 = pct(base, 50);
    const f = (x: number | undefined): string => (x === undefined ? '?' : x.toFixed(0));
    return [
      {
        measure: `\`node -e 0\` (same nsenter, alternating), p50 / p99`,
        result: `${ms(baseP50)} / ${ms(pct(base, 99))}`,
        goal: 'baseline',
      },
      {
        measure: `CNI ADD → endpoint ready, ${pods} pods, p50`,
        result: `${ms(addP50)} (baseline + ${ms(addP50 - baseP50)})`,
        goal: `≤ node -e 0 p50 + 35 ms = ${ms(baseP50 + 35)}: ${met(addP50 <= baseP50 + 35)}`,
      },
      {
        measure: 'CNI ADD → endpoint ready, p99 (max, which ADD)',
        result: `${ms(addP99)} (${ms(Math.max(...lat))}, #${lat.indexOf(Math.max(...lat)) + 1})`,
        goal: `< 100 ms: ${met(addP99 < 100)}`,
      },
      {
        measure: `agent RSS with ${endpoints} endpoints`,
        result: `${rssMb.toFixed(0)} MB`,
        goal: '< 200 MB',
      },
      {
        measure: `restart (kill -9) → all ${endpoints} endpoints ready`,
        result: ms(restoreMs),
        goal: `< 0.5 s: ${met(restoreMs < 500)}`,
      },
      {
        measure: '  agent split: process start / state read / IPAM+identity / maps / attach',
        result: split
          ? `${f(split.processStart)} / ${f(split.stateRead)} / ${f(split.ipamIdentity)} / ${f(split.maps)} / ${f(split.attach)} ms`
          : 'not logged',
        goal: '',
      },
      {
        measure: '  agent split: process start → all reconciled',
        result: split ? `${f(split.total)} ms` : 'not logged',
        goal: '',
      },
    ];
  } finally {
    await agent.kill('SIGKILL').catch(() => undefined);
    for (const ns of podNs) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['netns', 'del', node]);
    rmSync(bpfRoot, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const rows = await benchPods();
  console.log(
    `\nPods: the agent in a node network namespace, cellium-cni as a runtime runs it (${cpus().length} CPUs, node ${process.version})\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
