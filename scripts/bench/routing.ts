// Pod-to-pod throughput between nodes (root, iperf3): two node namespaces on an underlay bridge,
// the built agent in each (told about the other by --nodes-file), pods through the built
// cellium-cni; iperf3 (one stream, 1 s a turn, interleaved) from a pod on node 0 to a pod on
// node 1 and to another pod on node 0, first in native mode with --auto-direct-node-routes, then
// in tunnel mode (VXLAN), three rounds each. Alone: npm run build && npx tsx scripts/bench/routing.ts
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cniAdd, startNodeAgent } from './node-agent.js';
import { pct, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUTING_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_ROUTING_SECONDS ?? 3);
const IPERF_PORT = 5201;

function sh(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function runIn(ns: string, argv: string[]): string {
  return sh('nsenter', [`--net=/run/netns/${ns}`, ...argv]);
}

/** Gbit/s received by iperf3 (one stream, `seconds`). */
function iperf(client: string, host: string, seconds: number): number {
  const out = runIn(client, [
    'iperf3',
    '-c',
    host,
    '-p',
    String(IPERF_PORT),
    '-t',
    String(seconds),
    '--connect-timeout',
    '5000',
    '-J',
  ]);
  const r = JSON.parse(out) as { end: { sum_received: { bytes: number; seconds: number } } };
  return (r.end.sum_received.bytes * 8) / r.end.sum_received.seconds / 1e9;
}

/** Two nodes in one routing mode: the throughput to a pod on the other node and on the same. */
async function oneMode(mode: 'native' | 'tunnel'): Promise<{ cross: number[]; same: number[] }> {
  const id = `${process.pid.toString(36)}${Math.random().toString(16).slice(2, 5)}`;
  const underlay = `cbu-${id}`;
  const nodes = [0, 1].map((i) => `cbn${i}-${id}`);
  const pods = [`cbp0-${id}`, `cbp1-${id}`, `cbq0-${id}`]; // client (node 0), server (node 1), server (node 0)
  const made: string[] = [];
  const procs: ChildProcess[] = [];
  const dirs = nodes.map(() => mkdtempSync(join(tmpdir(), 'cellium-bench-routing-')));
  const roots = nodes.map((_, i) => `/sys/fs/bpf/cellium-bench-routing-${id}-${i}`);
  try {
    for (const ns of [underlay, ...nodes, ...pods]) {
      sh('ip', ['netns', 'add', ns]);
      made.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['-n', underlay, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', underlay, 'link', 'set', 'br0', 'up']);
    const layout = nodes.map((ns, i) => ({
      ns,
      ip: `192.168.78.${i + 1}`,
      cidr: `10.78.${i + 1}.0/24`,
      name: `node-${i}`,
    }));
    for (const [i, n] of layout.entries()) {
      const br = `cbb${i}-${id}`;
      sh('ip', [
        '-n',
        underlay,
        'link',
        'add',
        br,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        n.ns,
      ]);
      sh('ip', ['-n', underlay, 'link', 'set', br, 'master', 'br0', 'up']);
      sh('ip', ['-n', n.ns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up']);
    }
    const sockets: string[] = [];
    for (const [i, n] of layout.entries()) {
      const dir = dirs[i] ?? '';
      const other = layout[1 - i];
      const nodesFile = join(dir, 'nodes.json');
      writeFileSync(
        nodesFile,
        JSON.stringify([
          { name: `default/${other?.name ?? ''}`, ipv4: other?.ip, 'pod-cidrs': [other?.cidr] },
        ]),
      );
      const socket = join(dir, 'api.sock');
      sockets.push(socket);
      procs.push(
        await startNodeAgent(
          n.ns,
          [
            `--socket-path=${socket}`,
            `--state-dir=${join(dir, 'state')}`,
            `--bpf-root=${roots[i] ?? ''}`,
            '--enable-health-checking=false',
            '--enable-endpoint-health-checking=false',
            `--node-name=${n.name}`,
            `--ipv4-node=${n.ip}`,
            '--ipv6-node=',
            `--ipv4-range=${n.cidr}`,
            `--nodes-file=${nodesFile}`,
            `--routing-mode=${mode}`,
            ...(mode === 'native' ? ['--auto-direct-node-routes'] : []),
            '--bpf-ct-global-tcp-max=16384',
            '--bpf-ct-global-any-max=16384',
            '--bpf-nat-global-max=16384',
            '--bpf-sock-rev-map-max=16384',
            '--bpf-lb-map-max=16384',
          ],
          join(dir, 'agent.log'),
        ),
      );
    }
    const [client = '', remote = '', local = ''] = pods;
    cniAdd(nodes[0] ?? '', sockets[0] ?? '', client);
    const remoteIp = cniAdd(nodes[1] ?? '', sockets[1] ?? '', remote);
    const localIp = cniAdd(nodes[0] ?? '', sockets[0] ?? '', local);
    for (const server of [remote, local]) {
      const p = spawn(
        'nsenter',
        [`--net=/run/netns/${server}`, 'iperf3', '-s', '-p', String(IPERF_PORT)],
        {
          stdio: 'ignore',
        },
      );
      procs.push(p);
    }
    // The servers listening and the routes or tunnel in place: a connection succeeds.
    for (let i = 0; ; i++) {
      try {
        iperf(client, remoteIp, 1);
        iperf(client, localIp, 1);
        break;
      } catch (e) {
        if (i > 50) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const cross: number[] = [];
    const same: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let c = 0;
      let s = 0;
      for (let t = 0; t < SECONDS; t++) {
        c += iperf(client, remoteIp, 1);
        s += iperf(client, localIp, 1);
      }
      cross.push(c / SECONDS);
      same.push(s / SECONDS);
    }
    return { cross, same };
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    for (const r of roots) rmSync(r, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** The routing benchmark's rows; one saying why when it cannot run. */
export async function benchRouting(): Promise<Row[]> {
  const measure = 'pod to pod across nodes';
  if (process.getuid?.() !== 0) return [{ measure, result: 'skipped: needs root', goal: '' }];
  for (const f of ['cellium-agent.cjs', 'cellium-cni.cjs'])
    if (!existsSync(join(ROOT, 'dist', f)))
      return [{ measure, result: `skipped: no dist/${f} (npm run build)`, goal: '' }];
  if (spawnSync('sh', ['-c', 'command -v iperf3'], { stdio: 'ignore' }).status !== 0)
    return [{ measure, result: 'skipped: no iperf3', goal: '' }];
  const native = await oneMode('native');
  const tunnel = await oneMode('tunnel');
  const f = (xs: readonly number[]) => xs.map((x) => x.toFixed(1)).join(' / ');
  return [
    { measure: 'same node (native run), Gbit/s', result: f(native.same), goal: '' },
    { measure: 'other node, native routes, Gbit/s', result: f(native.cross), goal: '' },
    { measure: 'same node (tunnel run), Gbit/s', result: f(tunnel.same), goal: '' },
    { measure: 'other node, VXLAN tunnel, Gbit/s', result: f(tunnel.cross), goal: '' },
    {
      measure: 'tunnel / native across nodes (medians)',
      result: `${(pct(tunnel.cross, 50) / pct(native.cross, 50)).toFixed(2)}×`,
      goal: '',
    },
  ];
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const rows = await benchRouting();
  console.log(
    `\nPod to pod between nodes (${cpus().length} CPUs, node ${process.version}, iperf3 one stream, ${ROUNDS} rounds × ${SECONDS} × 1 s per path)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
