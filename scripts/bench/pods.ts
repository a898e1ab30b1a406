// Pod benchmarks (root): CNI ADD → endpoint ready latency over 100 pods (real network
// namespaces and veths), agent RSS with 500 endpoints, and restart → all 500 restored.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../core/api/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Row {
  readonly measure: string;
  readonly result: string;
  readonly goal: string;
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
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
    [`--net=/run/netns/${node}`, process.execPath, join(ROOT, 'dist/cellium-agent.mjs'), ...args],
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
  const id = Math.random().toString(16).slice(2, 8);
  const node = `cbench-${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-pods-'));
  const bpfRoot = `/sys/fs/bpf/cellium-bench-${id}`;
  const socket = join(dir, 'api.sock');
  const args = [
    `--socket-path=${socket}`,
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
    for (let i = 0; i < pods; i++) {
      const ns = `cbp-${id}-${i}`;
      sh('ip', ['netns', 'add', ns]);
      podNs.push(ns);
      const t0 = performance.now();
      const r = spawnSync(
        'nsenter',
        [`--net=/run/netns/${node}`, process.execPath, join(ROOT, 'dist/cellium-cni.mjs')],
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
    return [
      {
        measure: `CNI ADD → endpoint ready, ${pods} pods, p50`,
        result: `${pct(lat, 50).toFixed(0)} ms`,
        goal: '',
      },
      {
        measure: 'CNI ADD → endpoint ready, p99',
        result: `${pct(lat, 99).toFixed(0)} ms`,
        goal: '< 150 ms',
      },
      {
        measure: `agent RSS with ${endpoints} endpoints`,
        result: `${rssMb.toFixed(0)} MB`,
        goal: '< 200 MB',
      },
      {
        measure: `restart (kill -9) → all ${endpoints} endpoints ready`,
        result: `${restoreMs.toFixed(0)} ms`,
        goal: '< 2 s',
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
