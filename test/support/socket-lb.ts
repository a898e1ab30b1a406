// Socket LB on the real kernel, the pieces: bpf_sock.o loaded over a test's own LB maps and
// attached to a cgroup of its own, a network namespace with backend servers, clients run inside
// (or outside) that cgroup and namespace, and services written into the maps as the
// loadbalancer cell lays them out. Everything is undone when the test finishes, failed or not.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import {
  cgroupAttach,
  cgroupDetach,
  createInnerMap,
  loadObject,
  openMap,
  setInnerMap,
  type BpfMap,
  type CgroupHook,
  type MapSpec,
} from '../../core/bpf/index.js';
import { testPinDir } from '../../core/testing/kernel.js';
import {
  AFFINITY_MATCH_MAP,
  LB4,
  LB6,
  LB_ALGORITHM,
  LB_ALGORITHM_SHIFT,
  LB_CONFIG_MAP,
  SVC_FLAG,
  type LbAffinityMatch,
  type LbFamilySpecs,
  type LbPresent,
} from '../../cells/loadbalancer/maps.js';
import { SOCK_PROGRAMS } from '../../cells/loadbalancer/index.js';
import { netns, sh, uniq } from './netns.js';
import { startReady } from './ns-script.js';
import { ROOT } from './procs.js';

/** The compiled object (`CELLIUM_BPF_SOCK_OBJECT` overrides it). */
export const SOCK_OBJECT =
  process.env.CELLIUM_BPF_SOCK_OBJECT || join(ROOT, 'datapath-c', 'build', 'bpf_sock.o');

/** Maglev tables of the tests: small (a prime), so a test writes every entry. */
export const TEST_MAGLEV_SIZE = 7;

type Opened<S> = {
  [K in keyof S]: S[K] extends MapSpec<infer K2, infer V> ? BpfMap<K2, V> : never;
};

/** One address family's LB maps, open. */
export type LbFamilyMaps = Opened<LbFamilySpecs>;

/** A test's own LB maps. */
export interface LbMaps {
  readonly v4: LbFamilyMaps;
  readonly v6: LbFamilyMaps;
  readonly affinityMatch: BpfMap<LbAffinityMatch, LbPresent>;
}

/** Where a client runs: a netns, and the cgroup it joins (when it runs in one). */
export interface ClientPlace {
  readonly ns: string;
  readonly cgroup?: string;
}

/** What a socket LB test runs in: its maps, its cgroup (programs attached) and its netns. */
export interface SockLbWorld extends ClientPlace {
  readonly maps: LbMaps;
  readonly cgroup: string;
}

// Stack order (vitest runs onTestFinished last-registered first): clients and servers go
// before the netns, the netns before the programs are detached, those before the cgroup is
// removed, and the object and maps last.
function openFamily(f: LbFamilySpecs, pinDir: string): LbFamilyMaps {
  const open = <K, V>(s: MapSpec<K, V>) =>
    openMap(s, { backend: 'kernel', pinDir, innerMaxEntries: TEST_MAGLEV_SIZE });
  return {
    services: open(f.services),
    backends: open(f.backends),
    revNat: open(f.revNat),
    affinity: open(f.affinity),
    sourceRange: open(f.sourceRange),
    maglev: open(f.maglev),
    sockRevNat: open(f.sockRevNat),
  };
}

/** Removes a cgroup once its processes (ours: the test's clients) are gone. */
export async function removeCgroup(path: string): Promise<void> {
  for (let i = 0; ; i++) {
    let procs: number[];
    try {
      procs = readFileSync(join(path, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return; // gone
    }
    for (const pid of procs) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    try {
      rmdirSync(path);
      return;
    } catch (e) {
      // The kernel frees a cgroup's last task a moment after its exit is reported.
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 100) throw e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Pins and LB maps of the test's own, bpf_sock.o loaded over them, a cgroup under `cgroupRoot`
 * with all eight programs attached, and a netns: loopback up, a veth pair (cv0, cv1) with
 * fd00:b::2 and fd00:b::3 on cv0, and routes sending 10.96.0.0/16 and fd00:96::/64 out of cv0,
 * where nothing answers (a frontend nobody owns).
 */
export function sockLbWorld(cgroupRoot: string): SockLbWorld {
  const pins = testPinDir();
  onTestFinished(() => pins.cleanup());
  const maps: LbMaps = {
    v4: openFamily(LB4, pins.dir),
    v6: openFamily(LB6, pins.dir),
    affinityMatch: openMap(AFFINITY_MATCH_MAP, { backend: 'kernel', pinDir: pins.dir }),
  };
  const config = openMap(LB_CONFIG_MAP, { backend: 'kernel', pinDir: pins.dir });
  const all = [
    ...Object.values(maps.v4),
    ...Object.values(maps.v6),
    maps.affinityMatch,
    config,
  ] as BpfMap<unknown, unknown>[];
  onTestFinished(() => all.forEach((m) => m.close()));
  config.update({ index: 0 }, { maglev_lut_size: TEST_MAGLEV_SIZE });

  const obj = loadObject(
    SOCK_OBJECT,
    all.map((m) => m.raw),
  );
  onTestFinished(() => obj.close());

  const cgroup = join(cgroupRoot, `cellium-test-${process.pid}-${uniq()}`);
  mkdirSync(cgroup);
  onTestFinished(() => removeCgroup(cgroup));
  const attached: [CgroupHook, number][] = [];
  onTestFinished(() => attached.forEach(([hook, id]) => cgroupDetach(cgroup, hook, id)));
  for (const [hook, prog] of SOCK_PROGRAMS)
    attached.push([hook, cgroupAttach(cgroup, hook, obj.program(prog))]);

  const ns = netns(`csock-${uniq()}`);
  const ip = (...args: string[]) => sh('ip', ['-n', ns, ...args]);
  ip('link', 'add', 'cv0', 'type', 'veth', 'peer', 'name', 'cv1');
  ip('link', 'set', 'cv0', 'up');
  ip('link', 'set', 'cv1', 'up');
  for (const a of ['fd00:b::2/128', 'fd00:b::3/128']) ip('addr', 'add', a, 'dev', 'cv0', 'nodad');
  ip('route', 'add', '10.96.0.0/16', 'dev', 'cv0');
  ip('-6', 'route', 'add', 'fd00:96::/64', 'dev', 'cv0');
  return { maps, cgroup, ns };
}

const PROTO = { tcp: 6, udp: 17, any: 0 } as const;

/** A backend of a test service: its id, address and port (0: the service's). */
export interface TestBackend {
  readonly id: number;
  readonly address: string;
  readonly port: number;
}

/** A service as the loadbalancer cell writes it. */
export interface TestService {
  readonly vip: string;
  readonly port: number;
  readonly proto: keyof typeof PROTO;
  readonly revNat: number;
  /** Slots 1..count: they take new sockets. */
  readonly active: readonly TestBackend[];
  /** Slots after those: they keep their sockets, take no new ones (BE_STATE terminating). */
  readonly terminating?: readonly TestBackend[];
  /** sessionAffinity=ClientIP with this timeout (seconds). */
  readonly affinityTimeout?: number;
  /** A Maglev table (backend ids, TEST_MAGLEV_SIZE of them). */
  readonly maglev?: readonly number[];
}

const BE_ACTIVE = 0;
const BE_TERMINATING = 1;

/** Writes (or rewrites) a service: backends, slots, master entry, reverse NAT, affinity, Maglev. */
export function writeService(maps: LbMaps, s: TestService): void {
  const fam = s.vip.includes(':') ? maps.v6 : maps.v4;
  const terminating = s.terminating ?? [];
  const proto = PROTO[s.proto];
  const key = (slot: number) => ({
    address: s.vip,
    dport: s.port,
    backend_slot: slot,
    proto,
    scope: 0,
  });
  for (const [list, flags] of [
    [s.active, BE_ACTIVE],
    [terminating, BE_TERMINATING],
  ] as const) {
    for (const b of list) {
      fam.backends.update(
        { backend_id: b.id },
        { address: b.address, port: b.port, proto, flags, cluster_id: 0 },
      );
    }
  }
  [...s.active, ...terminating].forEach((b, i) =>
    fam.services.update(key(i + 1), {
      backend_id: b.id,
      count: 0,
      rev_nat_index: s.revNat,
      flags: 0,
      flags2: 0,
      qcount: 0,
    }),
  );
  // Slots past the backends the service has now (it had more before) go.
  for (let slot = s.active.length + terminating.length + 1; fam.services.delete(key(slot)); slot++);
  if (s.maglev) {
    const inner = createInnerMap(fam.maglev.raw, `maglev_${s.revNat}`);
    try {
      s.maglev.forEach((id, i) => {
        const k = Buffer.alloc(4);
        const v = Buffer.alloc(4);
        k.writeUInt32LE(i);
        v.writeUInt32LE(id);
        inner.update(k, v, 'any');
      });
      const mk = Buffer.alloc(fam.maglev.spec.key.size);
      fam.maglev.spec.key.encode({ rev_nat_id: s.revNat }, mk);
      setInnerMap(fam.maglev.raw, mk, inner);
    } finally {
      inner.close();
    }
  }
  for (const b of s.active)
    if (s.affinityTimeout)
      maps.affinityMatch.update({ backend_id: b.id, rev_nat_id: s.revNat }, {});
  for (const b of terminating)
    maps.affinityMatch.delete({ backend_id: b.id, rev_nat_id: s.revNat });
  const algorithm = s.maglev ? LB_ALGORITHM.maglev : LB_ALGORITHM.random;
  fam.services.update(key(0), {
    backend_id: ((algorithm << LB_ALGORITHM_SHIFT) | (s.affinityTimeout ?? 0)) >>> 0,
    count: s.active.length,
    rev_nat_index: s.revNat,
    flags: s.affinityTimeout ? SVC_FLAG.AFFINITY : 0,
    flags2: 0,
    qcount: terminating.length,
  });
  fam.revNat.update({ rev_nat_index: s.revNat }, { address: s.vip, port: s.port });
}

/** A backend server: one TCP or UDP listener answering every connection or datagram with `name`. */
export interface Listener {
  readonly proto: 'tcp' | 'udp';
  readonly host: string;
  readonly port: number;
  readonly name: string;
}

// Runs with `node -e`, its argument a JSON list of listeners; prints "ready" once all listen.
const SERVER = `
const net = require('node:net');
const dgram = require('node:dgram');
const ls = JSON.parse(process.argv[1]);
let up = 0;
const ready = () => { if (++up === ls.length) process.stdout.write('ready\\n'); };
for (const l of ls) {
  if (l.proto === 'tcp') {
    net.createServer((s) => { s.on('error', () => {}); s.end(l.name); })
      .listen({ host: l.host, port: l.port }, ready);
  } else {
    const u = dgram.createSocket(l.host.includes(':') ? 'udp6' : 'udp4');
    u.on('message', (m, r) => u.send(l.name, r.port, r.address));
    u.bind(l.port, l.host, ready);
  }
}`;

/** Starts backend servers in the netns (outside the test's cgroup); killed when the test ends. */
export function startServers(ns: string, listeners: readonly Listener[]): Promise<void> {
  return startReady(ns, SERVER, [JSON.stringify(listeners)], 'servers');
}

/** A socket address as Node reports it. */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

/** One TCP connection: where getpeername() says it goes and what the server said, or an error. */
export interface TcpResult {
  readonly peer?: Peer;
  readonly data?: string;
  readonly error?: string;
}

/** One UDP socket: getpeername() when connected, and each reply's source and payload. */
export interface UdpResult {
  readonly peer?: Peer;
  readonly replies: readonly { readonly from: Peer; readonly data: string }[];
  readonly error?: string;
}

/** What a client does: `times` TCP connections, or `times` UDP sockets of `sends` datagrams. */
export interface ClientJob {
  readonly kind: 'tcp' | 'udp';
  readonly host: string;
  readonly port: number;
  readonly times?: number;
  readonly sends?: number;
  /** UDP: connect() the socket and send() instead of sendto(). */
  readonly connect?: boolean;
  /** How long a socket waits for its answer (the bound of a connect to nowhere). */
  readonly timeoutMs?: number;
  /** UDP: after this many replies, wait until runClient's `onPause` has run. */
  readonly pauseAfter?: number;
  /** TCP: close after the server's first line (its name), for servers that keep talking. */
  readonly firstLine?: boolean;
}

// Runs with `node -e`, its argument a ClientJob; prints a JSON list of results.
const CLIENT = `
const net = require('node:net');
const dgram = require('node:dgram');
const o = JSON.parse(process.argv[1]);
const tcp = () => new Promise((resolve) => {
  const s = net.connect({ host: o.host, port: o.port });
  let data = '';
  let peer;
  s.setTimeout(o.timeoutMs, () => { s.destroy(); resolve({ error: 'timeout' }); });
  s.on('connect', () => { peer = { address: s.remoteAddress, port: s.remotePort }; });
  s.on('data', (d) => {
    data += d;
    if (o.firstLine && data.includes('\\n')) { s.destroy(); resolve({ peer, data: data.split('\\n')[0] }); }
  });
  s.on('end', () => resolve({ peer, data }));
  s.on('error', (e) => resolve({ error: e.code }));
});
const udp = () => new Promise((resolve) => {
  const s = dgram.createSocket(o.host.includes(':') ? 'udp6' : 'udp4');
  const replies = [];
  let peer;
  let timer;
  const done = (r) => {
    clearTimeout(timer);
    try { s.close(); } catch {}
    resolve({ peer, replies, ...r });
  };
  const send = () => {
    clearTimeout(timer);
    timer = setTimeout(() => done({ error: 'timeout' }), o.timeoutMs);
    const cb = (e) => { if (e) done({ error: e.code }); };
    if (o.connect) s.send('ping', cb);
    else s.send('ping', o.port, o.host, cb);
  };
  s.on('error', (e) => done({ error: e.code }));
  s.on('message', (m, r) => {
    replies.push({ from: { address: r.address, port: r.port }, data: String(m) });
    if (replies.length >= o.sends) done({});
    else if (replies.length === o.pauseAfter) {
      clearTimeout(timer);
      process.stdin.once('data', send);
      process.stderr.write('paused\\n');
    } else send();
  });
  if (o.connect) {
    s.connect(o.port, o.host, (e) => {
      if (e) return done({ error: e.code });
      const a = s.remoteAddress();
      peer = { address: a.address, port: a.port };
      send();
    });
  } else s.bind(0, send);
});
(async () => {
  const out = [];
  for (let i = 0; i < o.times; i++) out.push(await (o.kind === 'tcp' ? tcp() : udp()));
  process.stdout.write(JSON.stringify(out));
})();`;

/**
 * Runs a client in the world's netns, inside its cgroup (moved there before it execs, so every
 * socket it makes is the programs') or, with `inCgroup: false`, outside it. `onPause` runs where
 * the job pauses.
 */
export async function runClient<R = TcpResult | UdpResult>(
  w: ClientPlace,
  job: ClientJob,
  inCgroup = true,
  onPause?: () => void,
): Promise<R[]> {
  const full = { times: 1, sends: 1, connect: false, timeoutMs: 5000, ...job };
  const node = [
    'nsenter',
    `--net=/run/netns/${w.ns}`,
    process.execPath,
    '-e',
    CLIENT,
    JSON.stringify(full),
  ];
  const argv =
    inCgroup && w.cgroup !== undefined
      ? [
          'sh',
          '-c',
          'echo $$ > "$1" && shift && exec "$@"',
          'sh',
          join(w.cgroup, 'cgroup.procs'),
          ...node,
        ]
      : node;
  const p = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  // 'close': the process has exited and its output is all read.
  const exited = new Promise<number | null>((r) => p.once('close', (code) => r(code)));
  onTestFinished(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await exited;
    }
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let pauseError: { e: unknown } | undefined;
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (!err.endsWith('paused\n')) return;
    err = err.slice(0, -'paused\n'.length);
    try {
      onPause?.();
      p.stdin.end('go\n');
    } catch (e) {
      pauseError = { e };
      p.kill('SIGKILL');
    }
  });
  const code = await exited;
  if (pauseError) throw pauseError.e;
  if (code !== 0) throw new Error(`client exited (${code}): ${err}`);
  return JSON.parse(out) as R[];
}

/** TCP connections through runClient. */
export const tcpClient = (w: ClientPlace, job: Omit<ClientJob, 'kind'>, inCgroup = true) =>
  runClient<TcpResult>(w, { kind: 'tcp', ...job }, inCgroup);

/** UDP sockets through runClient. */
export const udpClient = (
  w: ClientPlace,
  job: Omit<ClientJob, 'kind'>,
  inCgroup = true,
  onPause?: () => void,
) => runClient<UdpResult>(w, { kind: 'udp', ...job }, inCgroup, onPause);
