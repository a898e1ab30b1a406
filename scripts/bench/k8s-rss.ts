// Kubernetes-mode memory benchmark: the built agent (in-memory maps) joins the tests' API server
// double holding 5,000 pods on its node, 2,000 Services with an EndpointSlice each (three
// backends), 500 policies (250 NetworkPolicies, 250 CiliumNetworkPolicies) in 50 namespaces; the
// agent's RSS is read from /proc once every pod, service and policy is in (its reflectors report
// the pods synced, `GET /v1/service` lists the 2,000 services, `GET /v1/policy` holds the 500
// objects' rules). The same agent in embedded mode, idle, is the baseline measured in the same run.
// `npm run build && npx tsx scripts/bench/k8s-rss.ts` runs it on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../core/api/index.js';
import { startApiServer, type ApiServerDouble } from '../../test/support/apiserver.js';
import type { Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = 'bench-k8s-node';

/** The sizes of the run (the issue's: 5,000 pods, 2,000 services, 500 policies). */
export interface K8sRssSizes {
  readonly pods: number;
  readonly services: number;
  readonly policies: number;
  readonly namespaces: number;
}

const SIZES: K8sRssSizes = { pods: 5000, services: 2000, policies: 500, namespaces: 50 };

function rssMiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

function startAgent(dir: string, args: string[]): { proc: ChildProcess; socket: string } {
  const socket = join(dir, 'api.sock');
  const proc = spawn(
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
      `--node-name=${NODE}`,
      '--ipv4-range=10.63.0.0/16',
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr.resume();
  return { proc, socket };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 600_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stopped(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

/** Fills the double with the cluster's objects (policies of the CRD kinds once it is registered). */
function fill(api: ApiServerDouble, n: K8sRssSizes, crds: boolean): void {
  const ns = (i: number): string => `bench-ns-${i % n.namespaces}`;
  if (!crds) {
    for (let i = 0; i < n.namespaces; i++) {
      api.create('namespaces', { metadata: { name: ns(i), labels: { team: `t${i % 7}` } } });
    }
    for (let i = 0; i < n.pods; i++) {
      api.create('pods', {
        metadata: {
          name: `pod-${i}`,
          namespace: ns(i),
          labels: { app: `app-${i % 100}`, tier: i % 2 ? 'web' : 'db', 'pod-template-hash': 'abc' },
        },
        spec: {
          nodeName: NODE,
          serviceAccountName: 'default',
          containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }],
        },
        status: { phase: 'Running', podIP: ip(i), podIPs: [{ ip: ip(i) }] },
      });
    }
    for (let i = 0; i < n.services; i++) {
      const name = `svc-${i}`;
      api.create('services', {
        metadata: { name, namespace: ns(i) },
        spec: {
          type: 'ClusterIP',
          selector: { app: `app-${i % 100}` },
          ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
        },
      });
      api.create('endpointslices', {
        metadata: {
          name: `${name}-abcde`,
          namespace: ns(i),
          labels: { 'kubernetes.io/service-name': name },
        },
        addressType: 'IPv4',
        endpoints: [0, 1, 2].map((k) => ({
          addresses: [ip(i * 3 + k)],
          conditions: { ready: true, serving: true, terminating: false },
          nodeName: NODE,
        })),
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      });
    }
    for (let i = 0; i < n.policies / 2; i++) {
      api.create('networkpolicies', {
        metadata: { name: `np-${i}`, namespace: ns(i) },
        spec: {
          podSelector: { matchLabels: { app: `app-${i % 100}` } },
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [{ podSelector: { matchLabels: { tier: 'web' } } }],
              ports: [{ port: 8080, protocol: 'TCP' }],
            },
          ],
        },
      });
    }
    return;
  }
  for (let i = 0; i < n.policies - Math.floor(n.policies / 2); i++) {
    api.create('ciliumnetworkpolicies.cilium.io', {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: `cnp-${i}`, namespace: ns(i) },
      spec: {
        endpointSelector: { matchLabels: { app: `app-${i % 100}` } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { tier: 'db' } }],
            toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }],
          },
        ],
      },
    });
  }
}

function ip(i: number): string {
  return `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
}

/** Runs the benchmark; one row saying why when it cannot run. */
export async function benchK8sRss(n: K8sRssSizes = SIZES): Promise<Row[]> {
  if (!existsSync(join(ROOT, 'dist', 'cellium-agent.cjs')))
    return [{ measure: 'k8s RSS', result: 'skipped: no dist (npm run build)', goal: '' }];
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-k8s-'));
  const procs: ChildProcess[] = [];
  const api = await startApiServer({ bookmarkIntervalMs: 60_000 });
  try {
    // Baseline: embedded mode, idle, after its start.
    const base = startAgent(join(dir, 'embedded'), ['--enable-k8s=false']);
    procs.push(base.proc);
    const baseClient = new ApiClient(base.socket);
    await until('the embedded agent', async () => {
      const msg = (await baseClient.request<{ cilium?: { msg?: string } }>('GET', '/healthz'))
        .cilium?.msg;
      return msg !== undefined && !/^(starting|not ready)/.test(msg) ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 2000));
    const baseline = rssMiB(base.proc.pid ?? 0);
    await stopped(base.proc);

    fill(api, n, false);
    const t0 = performance.now();
    const k8s = startAgent(join(dir, 'k8s'), [`--k8s-kubeconfig-path=${api.kubeconfigPath}`]);
    procs.push(k8s.proc);
    const client = new ApiClient(k8s.socket);
    type Crd = {
      metadata?: { name?: string };
      status?: { conditions?: { type: string; status: string }[] };
    };
    // The agent registers the CRDs; the kind is served once established.
    await api.waitFor(
      'customresourcedefinitions',
      (o: Crd) =>
        o.metadata?.name === 'ciliumnetworkpolicies.cilium.io' &&
        (o.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True'),
    );
    fill(api, n, true);
    type Health = { 'modules-health'?: { modules?: { 'module-id': string; message: string }[] } };
    await until('the pods synced', async () => {
      const h = await client.request<Health>('GET', '/healthz');
      const m = h['modules-health']?.modules?.find((x) => /k8s.*pods$/.test(x['module-id']));
      return m?.message.startsWith(`synced, ${n.pods} objects`) ? true : undefined;
    });
    await until('the services', async () => {
      const s = await client.request<{ spec?: { flags?: { name?: string } } }[]>('GET', '/service');
      const names = new Set(
        s.map((x) => x.spec?.flags?.name).filter((x) => x?.startsWith('svc-') === true),
      );
      return names.size >= n.services ? true : undefined;
    });
    await until('the policies', async () => {
      const p = await client.request<{ policy?: string }>('GET', '/policy');
      const rules = JSON.parse(p.policy ?? '[]') as { labels?: { key: string; value: string }[] }[];
      const objs = new Set(
        rules.flatMap((r) =>
          (r.labels ?? []).filter((l) => l.key === 'io.cilium.k8s.policy.name').map((l) => l.value),
        ),
      );
      return objs.size >= n.policies ? true : undefined;
    });
    const syncMs = performance.now() - t0;
    // Let the allocation burst settle as the agent would be seen later.
    await new Promise((r) => setTimeout(r, 5000));
    const after = rssMiB(k8s.proc.pid ?? 0);
    await stopped(k8s.proc);
    const f = (x: number): string => `${x.toFixed(0)} MB`;
    return [
      {
        measure: `agent RSS after syncing ${n.pods} pods, ${n.services} services, ${n.policies} policies`,
        result: `${f(after.rss)} (peak ${f(after.hwm)}; embedded idle ${f(baseline.rss)})`,
        goal: '< 300 MB',
      },
      {
        measure: 'time from agent start to everything synced and programmed',
        result: `${(syncMs / 1000).toFixed(1)} s`,
        goal: '',
      },
    ];
  } finally {
    await Promise.all(procs.map(stopped));
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchK8sRss();
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
