// Load balancer datapath benchmark (root): the built agent in a node network namespace, a client
// and a server pod added by the built cellium-cni, a ClusterIP in front of the server; then TCP
// connections/s (a node client opening short connections, the client closing first) and iperf3
// throughput from the client pod to the server pod addressed directly and through the ClusterIP
// (bpf_lxc's per-packet translation with conntrack), interleaved within each of three rounds of
// the same run. Medians of the rounds and the ratio ClusterIP / direct; the datapath's drops and
// the conntrack map it used. `npm run build && npx tsx scripts/bench/lb-datapath.ts` runs it on
// its own; BENCH_LB_SECONDS (3) is each path's time per round and measure.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMap } from '../../core/bpf/index.js';
import { CT4 } from '../../cells/conntrack/index.js';
import { METRIC, METRICS_MAP, REASON } from '../../cells/maps/index.js';
import { cniAdd, startNodeAgent } from './node-agent.js';
import { pct, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = Number(process.env.BENCH_LB_SECONDS ?? 3);
const ROUNDS = 3;
// Connections in flight from the client (2 CPUs here: enough to keep both busy).
const CONCURRENCY = 4;
const VIP = '10.96.200.1';
const IPERF_PORT = 5201;
const CONN_PORT = 5202;
// The connection client switches between the paths this often.
const SLICE_MS = 250;
// Every ClusterIP connection leaves two entries (SERVICE and OUT, keyed by the client's port) in
// the TCP conntrack map until they expire (10 s after the close) and the collector runs (first
// after 5 min); the client reuses its ports, so at most 2 × 64,512 whatever the run's length:
// the LRU map never evicts during it (65,536 would, at ~8,000 connections/s).
const CT_TCP_MAX = 262_144;
const SMALL_MAPS = [
  `--bpf-ct-global-tcp-max=${CT_TCP_MAX}`,
  '--bpf-ct-global-any-max=65536',
  '--bpf-nat-global-max=65536',
  '--bpf-lb-map-max=16384',
];

// Runs with `node -e`; argv: port. Writes one byte to each connection and closes once the client
// has (so the client closes first and holds the TIME_WAIT, keyed by the address it dialled).
const CONN_SERVER = `
const net = require('node:net');
net.createServer((s) => { s.on('error', () => {}); s.write('x'); })
  .listen(Number(process.argv[1]), '0.0.0.0', 1024, () => process.stdout.write('ready\\n'));`;

// Runs with `node -e`; argv: port, seconds, concurrency, slice ms, then the hosts. Alternates
// between the hosts every slice (in-flight connections finish before the next host's slice
// starts) until each had `seconds`, after one unmeasured slice each (the JIT warms up). Each
// worker connects, waits for the server's byte, closes and connects again. Prints, per host,
// {connections, errors, seconds}.
const CONN_CLIENT = `
const net = require('node:net');
const [port, secs, conc, slice] = process.argv.slice(1, 5).map(Number);
const hosts = process.argv.slice(5);
const one = (host, r) => new Promise((resolve) => {
  const s = net.connect({ host, port });
  s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  s.once('data', () => s.end());
  s.on('error', () => { r.errors++; s.destroy(); resolve(); });
  s.on('close', (hadError) => { if (!hadError) r.connections++; resolve(); });
});
const run = async (host, r) => {
  const t0 = performance.now();
  const end = t0 + slice;
  await Promise.all(Array.from({ length: conc }, async () => { while (performance.now() < end) await one(host, r); }));
  r.seconds += (performance.now() - t0) / 1000;
};
(async () => {
  for (const h of hosts) await run(h, { connections: 0, errors: 0, seconds: 0 });
  const rs = hosts.map(() => ({ connections: 0, errors: 0, seconds: 0 }));
  while (rs.some((r) => r.seconds < secs))
    for (const [i, h] of hosts.entries()) await run(h, rs[i]);
  process.stdout.write(JSON.stringify(rs));
})();`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** iperf3 on the PATH, installed first (as the quick start installs packages) when missing. */
function haveIperf3(): boolean {
  spawnSync(
    'bash',
    ['-c', 'source scripts/lib.sh && WITHOUT="no throughput" ensure_system_packages iperf3'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return spawnSync('sh', ['-c', 'command -v iperf3'], { stdio: 'ignore' }).status === 0;
}

/** Runs a command in a namespace to completion; resolves with its stdout. */
function runIn(ns: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/run/netns/${ns}`, ...argv]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${argv[0] ?? ''} in ${ns} exited ${code}: ${err}${out}`));
    });
  });
}

/** Starts a server in a namespace; resolves once it printed `ready` (a regexp on its output). */
function serve(ns: string, argv: string[], ready: RegExp, procs: ChildProcess[]): Promise<void> {
  const p = spawn('nsenter', [`--net=/run/netns/${ns}`, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(p);
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) resolve();
    });
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', (c) => reject(new Error(`${argv[0] ?? ''} exited ${c}: ${out}`)));
  });
}

/** The built `cellium` against the agent; throws with its output on failure. */
function cli(socket: string, ...args: string[]): string {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'dist/cellium.mjs'), '-H', `unix://${socket}`, ...args],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`cellium ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A map's id, size and entries, by bpftool (which reads what a program holds, pinned or not). */
interface MapSeen {
  readonly id: number;
  readonly max: number;
  readonly entries: number;
}

function mapSeen(how: string[]): MapSeen {
  const m = JSON.parse(sh('bpftool', ['map', 'show', ...how, '-j'])) as {
    id: number;
    max_entries: number;
  };
  // A conntrack map's dump is tens of MB when full.
  const dump = execFileSync('bpftool', ['map', 'dump', 'id', String(m.id), '-j'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const entries = (JSON.parse(dump) as unknown[]).length;
  return { id: m.id, max: m.max_entries, entries };
}

/** The pinned map at `path`, undefined without bpftool. */
function ctMapAt(path: string): MapSeen | undefined {
  try {
    return mapSeen(['pinned', path]);
  } catch {
    return undefined;
  }
}

/**
 * The IPv4 TCP conntrack map the node's bpf_lxc really uses: the one its tc ingress program
 * holds (it may not be the pinned one the agent sizes, collects and shows).
 */
function lxcCtMap(node: string): MapSeen | undefined {
  try {
    const net = JSON.parse(
      sh('nsenter', [`--net=/run/netns/${node}`, 'bpftool', 'net', 'show', '-j']),
    ) as { tc?: { kind: string; id: number }[] }[];
    const prog = net[0]?.tc?.find((t) => t.kind === 'clsact/ingress')?.id;
    if (prog === undefined) return undefined;
    const ids = (
      JSON.parse(sh('bpftool', ['prog', 'show', 'id', String(prog), '-j'])) as { map_ids: number[] }
    ).map_ids;
    for (const id of ids) {
      // Kernel map names are cut at 15 characters.
      const m = JSON.parse(sh('bpftool', ['map', 'show', 'id', String(id), '-j'])) as {
        name: string;
      };
      if (m.name === CT4.tcp.name.slice(0, 15)) return mapSeen(['id', String(id)]);
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the agent has written service `id` into the maps. */
async function realized(socket: string, id: number): Promise<void> {
  for (const t0 = performance.now(); performance.now() - t0 < 10_000;) {
    const s = JSON.parse(cli(socket, '-o', 'json', 'service', 'get', String(id))) as {
      status?: { realized?: { id?: number } };
    };
    if (s.status?.realized?.id === id) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`service ${id} not realized in 10 s`);
}

/** Both paths in the order of this round, and what each dials. */
type Paths = readonly (readonly ['direct' | 'vip', string])[];

/** Connections/s from the client pod to each path over one round of interleaved slices. */
async function connRates(client: string, paths: Paths): Promise<number[]> {
  const out = await runIn(client, [
    process.execPath,
    '-e',
    CONN_CLIENT,
    String(CONN_PORT),
    String(SECONDS),
    String(CONCURRENCY),
    String(SLICE_MS),
    ...paths.map(([, host]) => host),
  ]);
  const rs = JSON.parse(out) as { connections: number; errors: number; seconds: number }[];
  return rs.map((r, i) => {
    if (r.errors > 0) throw new Error(`${r.errors} connections to ${paths[i]?.[1] ?? ''} failed`);
    return r.connections / r.seconds;
  });
}

/**
 * iperf3 Gbit/s (one stream, received) from the client pod to each path over one round: one
 * second to each in turn until each had `SECONDS`.
 */
async function throughputs(client: string, paths: Paths): Promise<number[]> {
  const sums = paths.map(() => ({ bytes: 0, seconds: 0 }));
  for (let t = 0; t < SECONDS; t++) {
    for (const [i, [, host]] of paths.entries()) {
      const out = await runIn(client, [
        'iperf3',
        '-c',
        host,
        '-p',
        String(IPERF_PORT),
        '-t',
        '1',
        '--connect-timeout',
        '5000',
        '-J',
      ]);
      const r = JSON.parse(out) as { end: { sum_received: { bytes: number; seconds: number } } };
      const sum = sums[i];
      if (sum) {
        sum.bytes += r.end.sum_received.bytes;
        sum.seconds += r.end.sum_received.seconds;
      }
    }
  }
  return sums.map((x) => (x.bytes * 8) / x.seconds / 1e9);
}

/** Runs the load balancer datapath benchmark; one row saying why when it cannot run. */
export async function benchLbDatapath(): Promise<Row[]> {
  const measure = 'ClusterIP datapath';
  if (process.getuid?.() !== 0) return [{ measure, result: 'skipped: needs root', goal: '' }];
  for (const f of ['cellium-agent.cjs', 'cellium-cni.cjs', 'cellium.mjs']) {
    if (!existsSync(join(ROOT, 'dist', f)))
      return [{ measure, result: `skipped: no dist/${f} (npm run build)`, goal: '' }];
  }
  if (!haveIperf3()) return [{ measure, result: 'skipped: no iperf3', goal: '' }];
  const id = `${process.pid}-${Math.random().toString(16).slice(2, 6)}`;
  const node = `cblb-${id}`;
  const pods = [`cblbc-${id}`, `cblbs-${id}`];
  const net = `10.${210 + (process.pid % 40)}.${Math.floor(Math.random() * 256)}`;
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-lb-'));
  const bpfRoot = `/sys/fs/bpf/cellium-bench-lb-${id}`;
  const socket = join(dir, 'api.sock');
  const log = join(dir, 'agent.log');
  writeFileSync(log, '');
  const procs: ChildProcess[] = [];
  const made: string[] = [];
  try {
    for (const ns of [node, ...pods]) {
      sh('ip', ['netns', 'add', ns]);
      made.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['-n', node, 'addr', 'add', `172.31.${process.pid % 250}.1/32`, 'dev', 'lo']);
    procs.push(
      await startNodeAgent(
        node,
        [
          `--socket-path=${socket}`,
          '--enable-health-checking=false',
          `--state-dir=${join(dir, 'state')}`,
          `--bpf-root=${bpfRoot}`,
          `--ipv4-range=${net}.0/24`,
          ...SMALL_MAPS,
        ],
        log,
      ),
    );
    const [client = '', server = ''] = pods;
    cniAdd(node, socket, client, 'client');
    const serverIp = cniAdd(node, socket, server, 'server');
    // Both paths alike in the client: the whole port range, and TIME_WAIT ports reused (after a
    // second, as the kernel allows) so neither runs out of ports in a long run.
    sh('ip', [
      'netns',
      'exec',
      client,
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.ip_local_port_range=1024 65535',
      'net.ipv4.tcp_tw_reuse=1',
    ]);
    await serve(server, [process.execPath, '-e', CONN_SERVER, String(CONN_PORT)], /ready/, procs);
    await serve(
      server,
      ['iperf3', '-s', '-p', String(IPERF_PORT), '--forceflush'],
      /listening/i,
      procs,
    );
    for (const [sid, port] of [
      [1, IPERF_PORT],
      [2, CONN_PORT],
    ] as const) {
      cli(
        socket,
        'service',
        'update',
        '--id',
        String(sid),
        '--frontend',
        `${VIP}:${port}`,
        '--backends',
        `${serverIp}:${port}`,
      );
      await realized(socket, sid);
    }

    const conns = { direct: [] as number[], vip: [] as number[] };
    const gbits = { direct: [] as number[], vip: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      // Each round interleaves the paths finely, so a machine shared with other work slows both
      // alike; which goes first alternates too.
      const both = [
        ['direct', serverIp],
        ['vip', VIP],
      ] as const;
      const paths: Paths = i % 2 ? [...both].reverse() : both;
      const c = await connRates(client, paths);
      const g = await throughputs(client, paths);
      for (const [k, [path]] of paths.entries()) {
        conns[path].push(c[k] ?? NaN);
        gbits[path].push(g[k] ?? NaN);
      }
    }

    // What the datapath did meanwhile: drops by any reason, translations, the TCP flows tracked.
    const metrics = openMap(METRICS_MAP, {
      backend: 'kernel',
      pinDir: join(bpfRoot, 'tc/globals'),
    });
    let drops = 0;
    let translated = 0;
    try {
      for (const [k, v] of metrics.entries()) {
        const n = v.reduce((s, x) => s + Number(x.count), 0);
        if (k.reason >= REASON.INVALID) drops += n;
        if (k.dir === METRIC.SERVICE && k.reason === REASON.LB_TRANSLATED) translated += n;
      }
    } finally {
      metrics.close();
    }
    const used = lxcCtMap(node);
    const pinned = ctMapAt(join(bpfRoot, 'tc/globals', CT4.tcp.name));

    const fmt = (x: number, d: number): string =>
      x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
    const row = (
      what: string,
      m: { direct: number[]; vip: number[] },
      d: number,
      unit: string,
    ): Row[] => {
      const [direct, vip] = [pct(m.direct, 50), pct(m.vip, 50)];
      const ratio = vip / direct;
      const each = (xs: number[]): string => xs.map((x) => fmt(x, d)).join(', ');
      return [
        {
          measure: `ClusterIP ${what}`,
          result: `${fmt(vip, d)}${unit} (direct ${fmt(direct, d)}; ${ratio.toFixed(2)}×)`,
          goal: `≥ 0.9× direct: ${ratio >= 0.9 ? 'met' : 'NOT met'}`,
        },
        {
          // How far the rounds' ratios spread shows how much noise the machine added.
          measure: '  rounds, direct / ClusterIP (ratios)',
          result: `${each(m.direct)} / ${each(m.vip)} (${m.vip.map((v, i) => (v / (m.direct[i] ?? NaN)).toFixed(2)).join(', ')})`,
          goal: '',
        },
      ];
    };
    return [
      ...row(`TCP connections/s (${CONCURRENCY} in flight)`, conns, 0, ''),
      ...row('throughput (iperf3, 1 stream)', gbits, 1, ' Gbit/s'),
      {
        measure: '  datapath: drops / packets translated',
        result: `${drops} / ${fmt(translated, 0)}`,
        goal: 'no drops',
      },
      {
        measure: "  TCP conntrack: bpf_lxc's map / the pinned cellium_ct4_global",
        result: [used, pinned]
          .map((m) =>
            m ? `${fmt(m.entries, 0)} of ${fmt(m.max, 0)} (map ${m.id})` : 'unknown (bpftool?)',
          )
          .join(' / '),
        goal: `the same map, not full: ${used && pinned && used.id === pinned.id && used.entries < used.max ? 'met' : 'NOT met'}`,
      },
    ];
  } finally {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) resolve();
            else {
              p.once('exit', () => resolve());
              p.kill('SIGKILL');
            }
          }),
      ),
    );
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(bpfRoot, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const rows = await benchLbDatapath();
  console.log(
    `\nClusterIP datapath: pod to pod directly and through a ClusterIP, interleaved (${cpus().length} CPUs, node ${process.version}, ${ROUNDS} rounds × ${SECONDS} s per path)\n`,
  );
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
