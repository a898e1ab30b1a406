// Monitor benchmark (root): the built agent on a bpffs root of its own, a monitor client on its
// socket, and real datapath events: BPF_PROG_TEST_RUN of bpf_xdp (repeat) on a malformed frame,
// each run a drop the program writes into the agent's pinned cellium_events. Then the same rate
// with no client: bpf_lxc's drops (still written: the agent counts them and keeps them undecoded)
// and bpf_xdp's (not written while nobody listens). Paced at a target
// rate, then every event emitted is found again: received by the client, lost by the datapath
// (cellium_events_lost), or dropped for the client (its lost notices). Then the agent's CPU while
// idle with the monitor attached, from /proc/<pid>/stat. And bpf_lxc's cost per forwarded packet
// with no monitor attached, against the object before the monitor (built from git) and with a
// monitor attached (traces at the default aggregation). Alone: `npm run build && npx tsx
// scripts/bench/monitor.ts`.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadObject, openMap, testRun, type BpfMap } from '../../core/bpf/index.js';
import {
  EVENTS_LOST_MAP,
  eventsMapSpec,
  METRIC,
  METRICS_MAP,
  MONITOR_CONFIG_MAP,
  REASON,
} from '../../cells/maps/index.js';
import type { Row } from './table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AGENT = join(ROOT, 'dist', 'cellium-agent.cjs');
const RATE = Number(process.env.BENCH_MONITOR_RATE ?? 100_000);
const SECONDS = Number(process.env.BENCH_MONITOR_SECONDS ?? 5);
const IDLE_SECONDS = Number(process.env.BENCH_MONITOR_IDLE_SECONDS ?? 10);
const RING = 2 * 1024 * 1024;

/** Ethernet + an IPv4 header claiming 16 bytes (IHL 4): bpf_xdp drops it as INVALID. */
function malformed(): Buffer {
  const f = Buffer.alloc(14 + 40);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x44;
  return f;
}

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** A monitor client counting what it receives (drops, and each kind of lost notice). */
function monitorClient(path: string) {
  const counts = { drops: 0, datapathLost: 0, clientLost: 0, other: 0 };
  const s = connect(path);
  createInterface({ input: s }).on('line', (l) => {
    if (l.startsWith('{"type":"drop"')) counts.drops++;
    else if (l.startsWith('{"type":"lost"')) {
      const n = JSON.parse(l) as { source: string; lost: number };
      if (n.source === 'datapath') counts.datapathLost += n.lost;
      else counts.clientLost += n.lost;
    } else counts.other++;
  });
  s.write('{"types":["drop"]}\n');
  return { counts, close: () => s.destroy() };
}

/** Which program the generator runs: bpf_xdp (whose drops reach the ring only while a monitor
 * listens) or bpf_lxc (whose drops always do), each on a malformed frame it drops as INVALID. */
type Dropper = 'xdp' | 'lxc';

/** The program fd of a loaded object's function, on the agent's pinned maps. */
function dropper(pinDir: string, prog: Dropper = 'xdp') {
  const maps = [
    openMap(METRICS_MAP, { backend: 'kernel', pinDir }),
    openMap(eventsMapSpec(RING), { backend: 'kernel', pinDir }),
    openMap(MONITOR_CONFIG_MAP, { backend: 'kernel', pinDir }),
  ];
  const lost = openMap(EVENTS_LOST_MAP, { backend: 'kernel', pinDir });
  const metrics = maps[0] as BpfMap<{ reason: number; dir: number }, { count: bigint }[]>;
  const obj = loadObject(join(ROOT, 'datapath-c', 'build', `bpf_${prog}.o`), [
    ...maps.map((m) => m.raw),
    lost.raw,
  ]);
  // bpf_xdp sees frames coming in; bpf_lxc's cil_from_container frames leaving an endpoint.
  const dir = prog === 'xdp' ? METRIC.INGRESS : METRIC.EGRESS;
  return {
    fd: obj.program(prog === 'xdp' ? 'cil_xdp_entry' : 'cil_from_container'),
    lost: (): number => Number((lost.lookup({ index: 0 }) ?? []).reduce((n, v) => n + v.count, 0n)),
    /** Frames the program dropped as INVALID: each one an event it wrote (or lost), if it wrote. */
    dropped: (): number =>
      Number(
        (metrics.lookup({ reason: REASON.INVALID, dir }) ?? []).reduce((n, v) => n + v.count, 0n),
      ),
    close: () => {
      obj.close();
      for (const m of [...maps, lost] as BpfMap<unknown, unknown>[]) m.close();
    },
  };
}

/**
 * The generator (a process of its own, so that its test runs, which block ~20 ms each, never
 * hold up the client): drops at RATE/s for SECONDS into the agent's ring; prints how many the
 * program made (counted in cellium_metrics, exact even when a run is interrupted).
 */
async function generate(pinDir: string, prog: Dropper): Promise<void> {
  const x = dropper(pinDir, prog);
  try {
    const frame = malformed();
    const dropped0 = x.dropped();
    const emittedNow = (): number => x.dropped() - dropped0;
    const total = RATE * SECONDS;
    const t0 = performance.now();
    for (let emitted = 0; emitted < total; emitted = emittedNow()) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      if (due > emitted) {
        try {
          testRun(x.fd, frame, { repeat: Math.min(MAX_BATCH, due - emitted) });
        } catch (e) {
          // EINTR (e.g. libuv's io_uring completing work for this thread): it still ran some.
          if ((e as { code?: string }).code !== 'EINTR') throw e;
        }
      } else await sleep(1);
    }
    const ms = performance.now() - t0;
    process.stdout.write(`${JSON.stringify({ emitted: emittedNow(), ms })}\n`);
  } finally {
    x.close();
  }
}

// A repeated test run costs the kernel ~20 ms however many repetitions it makes (here), so each
// run makes what is due since the last one: bursts every ~20 ms at the rate asked.
const MAX_BATCH = 20_000;

/** The monitor clients the agent told the datapath of. */
function listeners(pinDir: string): number {
  const m = openMap(MONITOR_CONFIG_MAP, { backend: 'kernel', pinDir });
  try {
    return m.lookup({ index: 0 })?.listeners ?? 0;
  } finally {
    m.close();
  }
}

/** Generates drops with `prog` at RATE/s for SECONDS, in a process of its own. */
async function runGenerator(
  pinDir: string,
  prog: Dropper,
): Promise<{ emitted: number; ms: number }> {
  const gen = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--generate', pinDir, prog],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  gen.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise((r) => gen.once('exit', r));
  if (code !== 0) throw new Error(`the generator exited ${String(code)}`);
  return JSON.parse(out) as { emitted: number; ms: number };
}

/**
 * Drops at RATE/s for SECONDS with no monitor client: what the agent's CPU is then (bpf_lxc: the
 * records are read, counted by type and kept undecoded; bpf_xdp: none reach the ring), and how
 * many the ring lost.
 */
async function unwatched(pinDir: string, pid: number, prog: Dropper) {
  const x = dropper(pinDir, prog);
  try {
    await waitFor('no monitor client', () => listeners(pinDir) === 0);
    const lost0 = x.lost();
    const ticks0 = cpuTicks(pid);
    const t0 = performance.now();
    const { emitted, ms: sendMs } = await runGenerator(pinDir, prog);
    await sleep(500); // the agent's last batches
    const ms = performance.now() - t0;
    return {
      emitted,
      rate: emitted / (sendMs / 1000),
      datapathLost: x.lost() - lost0,
      agentCpu: ((cpuTicks(pid) - ticks0) / 100 / (ms / 1000)) * 100,
    };
  } finally {
    x.close();
  }
}

/** Events at RATE/s for SECONDS: emitted, received, lost where, and what the agent used. */
async function throughput(pinDir: string, socket: string, pid: number) {
  const x = dropper(pinDir);
  const client = monitorClient(socket);
  try {
    await waitFor('the monitor client attached', () => listeners(pinDir) > 0);
    const lost0 = x.lost();
    const ticks0 = cpuTicks(pid);
    const t0 = performance.now();
    const { emitted, ms: sendMs } = await runGenerator(pinDir, 'xdp');
    const c = client.counts;
    // Everything is accounted for once the agent has read the ring and the client its socket.
    await waitFor(
      'every event received or counted lost',
      () => c.drops + (x.lost() - lost0) + c.clientLost >= emitted,
      60_000,
    ).catch(() => undefined);
    const ms = performance.now() - t0;
    const agentCpu = ((cpuTicks(pid) - ticks0) / 100 / (ms / 1000)) * 100;
    return {
      emitted,
      rate: emitted / (sendMs / 1000),
      received: c.drops,
      datapathLost: x.lost() - lost0,
      notifiedDatapathLost: c.datapathLost,
      clientLost: c.clientLost,
      agentCpu,
      ms,
    };
  } finally {
    client.close();
    x.close();
  }
}

/** bpf_lxc ns per forwarded packet (TEST_RUN of a TCP frame between two unknown addresses). */
function lxcNsPerPacket(object: string, pinDir: string | undefined, listening: boolean): number {
  const opened = pinDir
    ? [
        openMap(eventsMapSpec(RING), { backend: 'kernel', pinDir }),
        openMap(MONITOR_CONFIG_MAP, { backend: 'kernel', pinDir }),
        openMap(EVENTS_LOST_MAP, { backend: 'kernel', pinDir }),
      ]
    : [];
  const obj = loadObject(
    object,
    opened.map((m) => m.raw),
  );
  try {
    const cfg = opened[1] as
      BpfMap<{ index: number }, { listeners: number; aggregation: number }> | undefined;
    cfg?.update({ index: 0 }, { listeners: listening ? 1 : 0, aggregation: 2 });
    const f = Buffer.alloc(14 + 20 + 20 + 64);
    f.writeUInt16BE(0x0800, 12);
    f[14] = 0x45;
    f.writeUInt16BE(f.length - 14, 16);
    f[22] = 64;
    f[23] = 6;
    Buffer.from([10, 250, 0, 1, 10, 250, 0, 2]).copy(f, 26);
    f.writeUInt16BE(40000, 34);
    f.writeUInt16BE(80, 36);
    f[46] = 0x50;
    f[47] = 0x10; // ACK: an established flow's packet (no new-flow trace at medium)
    const fd = obj.program('cil_from_container');
    testRun(fd, f, { repeat: 10_000 }); // warm
    const runs = [1, 2, 3].map(() => testRun(fd, f, { repeat: 200_000 }).durationNs);
    return Math.min(...runs);
  } finally {
    obj.close();
    for (const m of opened) m.close();
  }
}

/** bpf_lxc.o as it was before the monitor (commit 927a465), built into a temporary directory. */
function objectBeforeMonitor(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-lxc-'));
  try {
    execFileSync('sh', ['-c', `git -C ${ROOT} archive 927a465 datapath-c | tar -x -C ${dir}`]);
    execFileSync('make', ['-C', join(dir, 'datapath-c'), 'build/bpf_lxc.o'], { stdio: 'ignore' });
    return join(dir, 'datapath-c', 'build', 'bpf_lxc.o');
  } catch {
    return undefined;
  }
}

/** The monitor rows: reader throughput and losses, idle CPU, bpf_lxc per-packet cost. */
export async function benchMonitor(): Promise<Row[]> {
  if (process.getuid?.() !== 0)
    return [{ measure: 'monitor', result: 'skipped: needs root', goal: '' }];
  if (!existsSync(AGENT))
    return [
      {
        measure: 'monitor',
        result: 'skipped: no dist/cellium-agent.cjs (npm run build)',
        goal: '',
      },
    ];
  const dir = mkdtempSync(join(tmpdir(), 'cellium-bench-monitor-'));
  const bpfRoot = `/sys/fs/bpf/cellium-bench-mon-${process.pid}`;
  const pinDir = join(bpfRoot, 'tc', 'globals');
  const socket = join(dir, 'api.sock');
  const proc = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_MONITOR_FROM_SOURCES
        ? ['--import', 'tsx', join(ROOT, 'cells', 'cmd', 'cellium-agent.ts')]
        : [AGENT]),
      `--socket-path=${socket}`,
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${bpfRoot}`,
      `--bpf-events-ring-size=${RING}`,
      // No kubelet port, no cellium-health (namespace, port 4240, pings) in the host's namespace.
      '--agent-health-port=0',
      '--enable-health-checking=false',
      '--enable-endpoint-health-checking=false',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let logs = '';
  proc.stderr.on('data', (d: Buffer) => {
    logs += d.toString();
    if (logs.length > 1 << 20) logs = logs.slice(-(1 << 19));
  });
  const exited = new Promise((r) => proc.once('exit', r));
  proc.once('exit', (code, sig) => {
    if (process.env.BENCH_MONITOR_LOGS)
      writeFileSync(process.env.BENCH_MONITOR_LOGS, `${logs}\nEXIT ${code} ${sig}\n`);
  });
  const rows: Row[] = [];
  try {
    const mon = join(dir, 'monitor1_2.sock');
    await waitFor('the agent', () => existsSync(mon) && existsSync(join(pinDir, 'cellium_events')));
    const pid = proc.pid ?? 0;
    const t = await throughput(pinDir, mon, pid);
    const unaccounted = t.emitted - t.received - t.datapathLost - t.clientLost;
    rows.push(
      {
        measure: 'events emitted (bpf_xdp test runs), rate',
        result: `${t.emitted.toLocaleString('en')} at ${Math.round(t.rate).toLocaleString('en')}/s`,
        goal: `${RATE.toLocaleString('en')}/s`,
      },
      {
        measure: 'received by a monitor client',
        result: t.received.toLocaleString('en'),
        goal: 'all, or the rest counted',
      },
      {
        measure: 'lost: ring full (cellium_events_lost) / client too slow',
        result: `${t.datapathLost} (notified ${t.notifiedDatapathLost}) / ${t.clientLost}`,
        goal: '0',
      },
      {
        measure: 'unaccounted (emitted − received − lost)',
        result: String(unaccounted),
        goal: '0',
      },
      {
        measure: 'agent CPU while reading',
        result: `${t.agentCpu.toFixed(0)}% of a core`,
        goal: '',
      },
    );
    // Nobody listening: bpf_lxc's drops are still written (read, counted, kept undecoded);
    // bpf_xdp's are not (the prefilter writes events only while a monitor listens).
    for (const prog of ['lxc', 'xdp'] as const) {
      const u = await unwatched(pinDir, pid, prog);
      rows.push({
        measure: `agent CPU, no client: bpf_${prog} drops at ${Math.round(u.rate).toLocaleString('en')}/s (ring lost)`,
        result: `${u.agentCpu.toFixed(1)}% of a core (${u.datapathLost})`,
        goal: prog === 'lxc' ? '' : '≈ idle',
      });
    }
    // Idle with a client attached: what waiting costs.
    const client = monitorClient(mon);
    await sleep(1000);
    const ticks0 = cpuTicks(pid);
    const t0 = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const idle = ((cpuTicks(pid) - ticks0) / 100 / ((performance.now() - t0) / 1000)) * 100;
    client.close();
    rows.push({
      measure: `agent CPU idle, monitor attached (${IDLE_SECONDS} s)`,
      result: `${idle.toFixed(2)}% of a core`,
      goal: '< 1%',
    });

    const lxc = join(ROOT, 'datapath-c', 'build', 'bpf_lxc.o');
    const before = objectBeforeMonitor();
    const none = lxcNsPerPacket(lxc, pinDir, false);
    const listening = lxcNsPerPacket(lxc, pinDir, true);
    const old = before ? lxcNsPerPacket(before, undefined, false) : NaN;
    rows.push({
      measure:
        'bpf_lxc forwarded packet (TEST_RUN): before the monitor / no monitor / monitor attached',
      result: `${old} / ${none} / ${listening} ns`,
      goal: 'no monitor ≈ before',
    });
  } finally {
    proc.kill('SIGTERM');
    await exited;
    if (process.env.BENCH_MONITOR_LOGS) writeFileSync(process.env.BENCH_MONITOR_LOGS, logs);
    rmSync(bpfRoot, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}` && process.argv[2] === '--generate') {
  await generate(process.argv[3] ?? '', process.argv[4] === 'lxc' ? 'lxc' : 'xdp');
} else if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const rows = await benchMonitor();
  console.log(`| measure | result | goal |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.measure} | ${r.result} | ${r.goal} |`);
}
