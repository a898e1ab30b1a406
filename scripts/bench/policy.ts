// Policy benchmark: 1,000 endpoints (150 identities), 200 mixed rules (matchLabels and
// matchExpressions, port ranges, TCP/UDP/ANY, CIDR sets with exceptions, entities, denies). In
// this process, the control plane's hive (kernel maps on a bpffs mounted for the run as root):
// the rules in one PUT until in every endpoint's map; 200 changes of one rule selecting 10% of
// the endpoints; restarts on that state, without and with the maps (checked to hold the same
// entries). Then the built agent given the same load over its API, and its memory (that process
// holds nothing else). `npx tsx scripts/bench/policy.ts` runs it alone (after `npm run build`).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { ApiClient, type Model } from '../../core/api/index.js';
import { ensureBpffs } from '../../core/bpf/index.js';
import { Hive, newRootLogger, provide } from '../../core/hive/index.js';
import { apiRequest } from '../../core/testing/api.js';
import { controlPlane, infrastructure } from '../../cells/agent.js';
import { ApiServer } from '../../cells/api/index.js';
import { conntrackCell } from '../../cells/conntrack/index.js';
import { EndpointManager, HostLinks } from '../../cells/endpoint/index.js';
import { MemoryLinks } from '../../cells/endpoint/links.memory.js';
import { mapsCell } from '../../cells/maps/index.js';
import { Policy, PolicyTable } from '../../cells/policy/index.js';
import { policyMapCell, PolicyMaps } from '../../cells/policymap/index.js';
import { StateDB } from '../../cells/statedb/index.js';
import { type Row, pct } from './table.js';

/** How much the policy benchmark loads (1,000 endpoints, 200 rules, 200 changes). */
export type PolicyBenchOptions = { endpoints?: number; rules?: number; changes?: number };

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TIERS = ['web', 'api', 'db'] as const;
const PROTOS = ['TCP', 'UDP', 'ANY'] as const;
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** Endpoint i: 50 apps × 3 tiers × 2 envs (150 identities for 1,000 endpoints), no interface. */
function endpointRequest(i: number): Model<'EndpointChangeRequest'> {
  const [n, tier, env] = [i + 10, TIERS[i % 3] ?? '', i % 2 ? 'prod' : 'dev'];
  return {
    'container-id': `bench${i}`,
    'k8s-namespace': 'default',
    'k8s-pod-name': `pod${i}`,
    addressing: { ipv4: `10.128.${n >> 8}.${n & 255}` },
    labels: [`k8s:app=app${i % 50}`, `k8s:tier=${tier}`, `k8s:env=${env}`],
    state: 'waiting-for-identity',
    'sync-build-endpoint': false,
  };
}

const ml = (key: string, value: string) => ({ matchLabels: { [key]: value } });
const me = (...reqs: [string, string, string[]][]) => ({
  matchExpressions: reqs.map(([key, operator, values]) => ({ key, operator, values })),
});
const ports = (port: number, r: number) => [
  { ports: [{ port: String(port), endPort: port + 1 + (r % 13), protocol: PROTOS[r % 3] }] },
];

/** Rule r of the mix: most select one app, every tenth a tier of the prod env. */
function rule(r: number): Record<string, unknown> {
  const app = (k: number): string => `app${k % 50}`;
  const cidr = { cidr: `10.${r % 100}.0.0/16`, except: [`10.${r % 100}.${r % 7}.0/24`] };
  const from = r % 3 === 0 ? ml('app', app(r * 7)) : me(['app', 'In', [app(r * 7), app(r * 11)]]);
  const ingress: unknown[] = [{ fromEndpoints: [from], toPorts: ports(1000 + 10 * r, r) }];
  const egress: unknown[] = [
    { toEndpoints: [ml('app', app(r * 3))], toPorts: ports(3000 + 10 * r, r) },
  ];
  if (r % 4 === 1) ingress.push({ fromCIDRSet: [cidr], toPorts: ports(443, 0) });
  if (r % 4 === 2) egress.push({ toCIDRSet: [cidr], toPorts: ports(5432, 1) });
  if (r % 4 === 3) egress.push({ toCIDR: [`192.168.${r}.0/24`] });
  if (r % 5 === 0) egress.push({ toEntities: ['kube-apiserver', 'host'] });
  if (r % 25 === 0) ingress.push({ fromEntities: ['world'], toPorts: ports(80, 0) });
  return {
    endpointSelector:
      r % 10 === 9
        ? me(['tier', 'In', [TIERS[r % 3] ?? '']], ['env', 'NotIn', ['dev']])
        : ml('app', app(r)),
    ingress,
    egress,
    ...(r % 20 === 7
      ? { ingressDeny: [{ fromEndpoints: [ml('env', 'dev')], toPorts: ports(22, 1) }] }
      : {}),
    ...(r % 20 === 13 ? { egressDeny: [{ toCIDRSet: [cidr] }] } : {}),
    labels: [`bench=rule-${r}`],
  };
}

const rulesText = (n: number): string =>
  JSON.stringify(Array.from({ length: n }, (_, r) => rule(r)));

/** Change k: one rule, replaced each time, selecting 5 of the 50 apps; its peer and port move. */
function changeRule(k: number): string {
  const apps = [0, 1, 2, 3, 4].map((a) => `app${a}`);
  const port = { port: String(9000 + (k % 2)), protocol: 'TCP' };
  return JSON.stringify([
    {
      endpointSelector: me(['app', 'In', apps]),
      ingress: [
        { fromEndpoints: [ml('app', `app${10 + (k % 40)}`)], toPorts: [{ ports: [port] }] },
      ],
      labels: ['bench=change'],
    },
  ]);
}

/** A bpffs mounted for the run (root), or a plain directory for the in-memory maps. */
function bpfMount(): { dir: string; kernel: boolean; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-policy-bpf-'));
  let kernel = process.getuid?.() === 0;
  try {
    if (kernel) ensureBpffs(dir);
  } catch (e) {
    kernel = false;
    console.log(`note: ${(e as Error).message}: in-memory maps`);
  }
  if (process.getuid?.() !== 0) console.log('note: not root: in-memory maps');
  // Pins first (the kernel's maps.debug and progs.debug stay), then the mount; also on a crash.
  const cleanup = (): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).filter((n) => !n.endsWith('.debug')))
      rmSync(join(dir, name), { recursive: true, force: true });
    if (kernel) execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  return { dir, kernel, cleanup };
}

function newHive(stateDir: string, bpfRoot: string, kernel: boolean): Hive {
  const values = {
    'socket-path': join(stateDir, `api-${Math.random().toString(16).slice(2)}.sock`),
    'state-dir': stateDir,
    'bpf-root': bpfRoot,
    'bpf-backend': kernel ? 'kernel' : 'memory',
    'ipv4-range': '10.128.0.0/16',
    'agent-health-port': 0,
  };
  // The control plane and the maps it writes (no devices or programs of the node's own).
  return new Hive([infrastructure, controlPlane, mapsCell, conntrackCell, policyMapCell], {
    config: { values },
    overrides: [provide(HostLinks, {}, () => new MemoryLinks())],
    logger: newRootLogger({ silent: true }),
  });
}

/** Resolves once the hive has `n` endpoint rows, every one realized at `rev` or later. */
async function realized(h: Hive, n: number, rev: number): Promise<void> {
  const [db, table, t0] = [h.get(StateDB), h.get(PolicyTable), performance.now()];
  const engine = h.get(Policy).engine;
  for (;;) {
    const rows = [...table.all(db.readTxn())];
    // What the Endpoint model shows as status.policy.realized.policy-revision.
    const late = rows.find((r) => r.status.kind !== 'done' || engine.realizedRevision(r) < rev);
    if (rows.length >= n && !late) return;
    if (performance.now() - t0 > 120_000) {
      const why = late ? `endpoint ${late.id}: ${late.status.error ?? late.status.kind}` : '';
      throw new Error(`${rows.length} rows, not all realized at revision ${rev}: ${why}`);
    }
    // The next commit (of the reconciler, the engine, restore), looked at as soon as it lands.
    await Promise.race([firstValueFrom(db.commits$), new Promise((r) => setTimeout(r, 1000))]);
  }
}

/** Entries of each endpoint's map, counted in the map; and what the rows want in all. */
function entries(h: Hive): { maps: number[]; rows: number } {
  const rows = [...h.get(PolicyTable).all(h.get(StateDB).readTxn())];
  const maps = rows.map((r) => h.get(PolicyMaps).endpointMap(r.id).count());
  return { maps, rows: sum(rows.map((r) => r.entries.size)) };
}

/** Rows of the policy benchmark in this process. */
export async function benchPolicy(opts: PolicyBenchOptions = {}): Promise<Row[]> {
  const [N, R, C] = [opts.endpoints ?? 1000, opts.rules ?? 200, opts.changes ?? 200];
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-policy-'));
  const bpf = bpfMount();
  const kind = bpf.kernel ? 'kernel' : 'in-memory';
  const running = new Set<Hive>();
  const start = async (root: string): Promise<Hive> => {
    const h = newHive(join(dir, 'state'), join(bpf.dir, root), bpf.kernel);
    running.add(h);
    await h.start();
    return h;
  };
  const stop = (h: Hive): Promise<void> => (running.delete(h), h.stop());
  try {
    const h = await start('a');
    const m = h.get(EndpointManager);
    for (let i = 0; i < N; i += 50) {
      const reqs = Array.from({ length: Math.min(50, N - i) }, (_, j) => endpointRequest(i + j));
      await Promise.all(reqs.map((req) => m.create({ kind: 'cilium-local', id: 0 }, req)));
    }
    await realized(h, N, h.get(Policy).repo.revision);
    const app = h.get(ApiServer).app;
    const put = async (path: string, body: string): Promise<number> => {
      const r = await apiRequest(app, 'PUT', path, { body });
      if (r.status !== 200) throw new Error(`PUT ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return (r.body as { revision: number }).revision;
    };

    // The rules in one PUT, into the maps of N existing endpoints.
    const t0 = performance.now();
    const rev = await put('/policy', rulesText(R));
    const answered = performance.now() - t0;
    await realized(h, N, rev);
    const cold = performance.now() - t0;
    const first = entries(h);
    const total = sum(first.maps);
    if (total !== first.rows)
      throw new Error(`the maps hold ${total} entries, the rows ${first.rows}`);

    // One rule change at a time, each until it is in every affected map.
    const lat: number[] = [];
    const ack: number[] = [];
    for (let k = 0; k < C; k++) {
      const t = performance.now();
      const r = await put('/policy?replace=true', changeRule(k));
      ack.push(performance.now() - t);
      await realized(h, N, r);
      lat.push(performance.now() - t);
    }
    const want = entries(h).rows;
    await stop(h);

    // Restarts on that state: no maps yet (a fresh bpf root), then the same maps in place.
    const restarts: string[] = [];
    for (const root of ['b', 'b']) {
      const r0 = performance.now();
      const hr = await start(root);
      const up = performance.now() - r0;
      await realized(hr, N, hr.get(Policy).repo.revision);
      const all = performance.now() - r0;
      const have = sum(entries(hr).maps);
      const wrong = have === want ? '' : `; WRONG: the maps hold ${have} entries, not ${want}`;
      restarts.push(`${sec(all)} (started ${sec(up)}${wrong})`);
      await stop(hr);
    }
    return [
      {
        measure: `${R} rules in one PUT → in the maps of ${N} existing endpoints (${kind} maps)`,
        result: `${sec(cold)} (PUT answered after ${sec(answered)})`,
        goal: '< 2 s',
      },
      {
        measure: `  entries in the maps: total; per endpoint min / avg / max`,
        result: `${total}; ${Math.min(...first.maps)} / ${(total / N).toFixed(0)} / ${Math.max(...first.maps)}`,
        goal: '',
      },
      {
        measure: `restart on ${N} endpoints and ${R} rules → every endpoint realized: no maps yet; the maps in place`,
        result: restarts.join('; '),
        goal: '< 2 s (no maps)',
      },
      {
        measure: `one rule change (10% of endpoints) → in their maps, p50 / p99 (${C} changes)`,
        result: `${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)} ms (max ${Math.max(...lat).toFixed(0)}; PUT answered ${pct(ack, 50).toFixed(1)} / ${pct(ack, 99).toFixed(1)})`,
        goal: 'p99 < 50 ms',
      },
    ];
  } finally {
    for (const h of running) await h.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    bpf.cleanup();
  }
}

type Endpoints = { status: { policy: { realized: { 'policy-revision': number } } } }[];

/**
 * The built agent (in a network namespace of its own as root) given the same endpoints and
 * rules through its API: until GET /v1/endpoint shows every endpoint realized at the rules'
 * revision (polled every 50 ms), and its memory then (from /proc).
 */
export async function benchPolicyAgent(opts: PolicyBenchOptions = {}): Promise<Row[]> {
  const [N, R] = [opts.endpoints ?? 1000, opts.rules ?? 200];
  const agentJs = join(ROOT, 'dist', 'cellium-agent.cjs');
  if (!existsSync(agentJs))
    return [
      { measure: 'built agent with policy', result: 'skipped: no dist/ (npm run build)', goal: '' },
    ];
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-policy-agent-'));
  const bpf = bpfMount();
  const ns = process.getuid?.() === 0 ? `cbench-pol-${process.pid}` : undefined;
  const socket = join(dir, 'api.sock');
  const args = [
    agentJs,
    `--socket-path=${socket}`,
    '--enable-health-checking=false',
    `--state-dir=${join(dir, 'state')}`,
    `--bpf-root=${join(bpf.dir, 'agent')}`,
    '--agent-health-port=0',
    `--bpf-backend=${bpf.kernel ? 'kernel' : 'memory'}`,
    '--ipv4-range=10.128.0.0/16',
  ];
  if (ns) execFileSync('ip', ['netns', 'add', ns]);
  const [cmd, argv] = ns
    ? ['nsenter', [`--net=/run/netns/${ns}`, process.execPath, ...args]]
    : [process.execPath, args];
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const gone = (): void => {
    proc.kill('SIGKILL');
    if (ns && existsSync(`/run/netns/${ns}`)) execFileSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', gone);
  let log = '';
  proc.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const api = new ApiClient(socket);
  try {
    for (const t = performance.now(); !log.includes('"hive started"');) {
      if (proc.exitCode !== null) throw new Error(`agent exited: ${log}`);
      if (performance.now() - t > 60_000) throw new Error(`agent did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < N; i = next++) {
        await api.request('PUT', '/endpoint/0', { body: endpointRequest(i) });
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const t0 = performance.now();
    const { revision } = await api.request<{ revision: number }>('PUT', '/policy', {
      body: rulesText(R),
    });
    for (;;) {
      const eps = await api.request<Endpoints>('GET', '/endpoint');
      const behind = eps.filter((e) => e.status.policy.realized['policy-revision'] < revision);
      if (eps.length >= N && behind.length === 0) break;
      if (performance.now() - t0 > 120_000) throw new Error(`${behind.length} endpoints behind`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const took = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    // nsenter execs node: the same pid.
    const status = readFileSync(`/proc/${proc.pid ?? 0}/status`, 'utf8');
    const kb = (f: string): number =>
      Number(new RegExp(`${f}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return [
      {
        measure: `built agent: PUT /v1/policy (${R} rules) → GET /v1/endpoint shows ${N} endpoints realized (${bpf.kernel ? 'kernel' : 'in-memory'} maps)`,
        result: sec(took),
        goal: '< 2 s',
      },
      {
        measure: `built agent RSS with ${N} endpoints and ${R} rules (peak)`,
        result: `${mb(kb('VmRSS'))} (${mb(kb('VmHWM'))})`,
        goal: '< 250 MB',
      },
    ];
  } finally {
    api.close();
    proc.kill('SIGKILL');
    await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
    gone();
    bpf.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = [...(await benchPolicy()), ...(await benchPolicyAgent())];
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
