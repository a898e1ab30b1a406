// A node for service tests: the agent in a node network namespace, pods added by cellium-cni as a
// container runtime adds them, each pod running echo servers that answer with its name; clients
// that open many flows, flows from fixed source ports (Maglev), and a long TCP stream.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { cellium, type CliRun } from './cli.js';
import { netns, sh, uniq } from './netns.js';
import { addedIPv4, cniRunner } from './pods.js';
import { startAgent, tempDir, testBpfRoot, type AgentProcess } from './procs.js';
import { startServers } from './socket-lb.js';

/** Ports every pod's echo servers listen on. */
export const ECHO_TCP = 8080;
export const ECHO_UDP = 5353;

/** Small maps for test agents (each agent's conntrack maps are preallocated). */
export const SMALL_MAPS = [
  '--bpf-ct-global-tcp-max=16384',
  '--bpf-ct-global-any-max=16384',
  '--bpf-nat-global-max=16384',
  '--bpf-sock-rev-map-max=16384',
  '--bpf-lb-map-max=16384',
];

/** A node with pods. */
export interface ServiceNode {
  readonly id: string;
  /** The node's network namespace (the agent runs in it). */
  readonly node: string;
  /** The pods' namespaces, and their IPv4 addresses. */
  readonly pods: readonly string[];
  readonly ips: readonly string[];
  /** /24 of the pods (e.g. 10.241.37). */
  readonly net: string;
  /** The node's address (on its loopback). */
  readonly nodeIp: string;
  agent: AgentProcess;
  readonly dir: string;
  readonly bpfRoot: string;
  /** Runs `cellium` against the agent. */
  cli(...args: string[]): Promise<CliRun>;
  /** Kills the agent (any signal) and starts it again with the same state and pins. */
  restart(signal: NodeJS.Signals): Promise<void>;
}

/** What a node is made with. */
export interface ServiceNodeOptions {
  /** Pods to add (the first is usually the client). */
  readonly pods: number;
  /** Extra agent flags. */
  readonly args?: readonly string[];
  /** Sets the node namespace up before the agent starts (devices for NodePort). */
  readonly before?: (node: string) => void;
}

/** Makes a node namespace, starts the agent in it and adds pods through cellium-cni. */
export async function serviceNode(o: ServiceNodeOptions): Promise<ServiceNode> {
  const id = uniq();
  const node = netns(`cs-${id}`);
  const pods = Array.from({ length: o.pods }, (_, i) => netns(`cs${i}-${id}`));
  const net = `10.${200 + (parseInt(id.slice(0, 2), 16) % 50)}.${parseInt(id.slice(2, 4), 16)}`;
  // The node's own address (a node has one; processes on it talk to pods from it).
  const nodeIp = `172.30.${parseInt(id.slice(0, 2), 16)}.${(parseInt(id.slice(2, 4), 16) % 254) + 1}`;
  sh('ip', ['-n', node, 'addr', 'add', `${nodeIp}/32`, 'dev', 'lo']);
  o.before?.(node);
  const dir = tempDir();
  const bpfRoot = testBpfRoot();
  const opts = {
    netns: node,
    dir,
    bpfRoot,
    args: [`--ipv4-range=${net}.0/24`, '--node-name=node-a', ...SMALL_MAPS, ...(o.args ?? [])],
  };
  const agent = await startAgent(opts);
  const cni = cniRunner({ node, socket: agent.socket, pods, id });
  const ips: string[] = [];
  for (let i = 0; i < pods.length; i++) {
    const r = await cni('ADD', i);
    if (r.code !== 0) throw new Error(`CNI ADD of pod ${i} failed: ${r.stdout}${r.stderr}`);
    ips.push(addedIPv4(r));
  }
  const n: ServiceNode = {
    id,
    node,
    pods,
    ips,
    net,
    nodeIp,
    agent,
    dir,
    bpfRoot,
    cli: (...args) => cellium(n.agent.socket, ...args),
    restart: async (signal) => {
      await n.agent.kill(signal);
      n.agent = await startAgent(opts);
    },
  };
  return n;
}

/** Starts each pod's echo servers (TCP ECHO_TCP, UDP ECHO_UDP), answering with `pod<i>`. */
export async function echoPods(n: ServiceNode, which: readonly number[]): Promise<void> {
  for (const i of which) {
    const ns = n.pods[i] as string;
    await startServers(ns, [
      { proto: 'tcp', host: '0.0.0.0', port: ECHO_TCP, name: `pod${i}` },
      { proto: 'udp', host: '0.0.0.0', port: ECHO_UDP, name: `pod${i}` },
    ]);
  }
}

/** `cellium service update` with the given flags; throws with its output on failure. */
export async function serviceUpdate(n: ServiceNode, ...flags: string[]): Promise<void> {
  const r = await n.cli('service', 'update', ...flags);
  if (r.code !== 0) throw new Error(`service update ${flags.join(' ')}: ${r.stdout}${r.stderr}`);
}

// Runs with `node -e`; argv: host, port, a JSON list of source ports. One UDP socket per source
// port sends one datagram and waits for the answer; prints {sport: name-or-error}.
const FLOWS = `
const dgram = require('node:dgram');
const [host, port, sports] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3])];
const one = (sport) => new Promise((resolve) => {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const t = setTimeout(() => { s.close(); resolve('timeout'); }, 3000);
  s.on('error', (e) => { clearTimeout(t); try { s.close(); } catch {} resolve(e.code); });
  s.on('message', (m, r) => { clearTimeout(t); s.close(); resolve(r.address === host ? String(m) : 'from ' + r.address); });
  s.bind(sport, () => s.send('ping', port, host));
});
(async () => {
  const out = {};
  for (let i = 0; i < sports.length; i += 50) {
    const part = sports.slice(i, i + 50);
    const names = await Promise.all(part.map(one));
    part.forEach((p, k) => { out[p] = names[k]; });
  }
  process.stdout.write(JSON.stringify(out));
})();`;

/** One UDP datagram per source port to host:port from the pod; which pod answered each. */
export function udpFlows(
  ns: string,
  host: string,
  port: number,
  sports: readonly number[],
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [
      `--net=/run/netns/${ns}`,
      process.execPath,
      '-e',
      FLOWS,
      host,
      String(port),
      JSON.stringify(sports),
    ]);
    onTestFinished(() => void p.kill('SIGKILL'));
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`flows client exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as Record<string, string>);
    });
  });
}

// Runs with `node -e`; argv: host, port. Connects, reads the server's name, then sends a numbered
// line every 50 ms and checks each echo; prints one line per echo and a last one on failure.
const STREAM = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
let buf = '';
let name;
let n = 0;
s.setNoDelay(true);
s.on('data', (d) => {
  buf += d;
  if (name === undefined) {
    const nl = buf.indexOf('\\n');
    if (nl < 0) return;
    name = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    process.stdout.write('name ' + name + ' peer ' + s.remoteAddress + '\\n');
    setInterval(() => s.write('line ' + ++n + '\\n'), 50);
  }
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    process.stdout.write('echo ' + buf.slice(0, nl) + '\\n');
    buf = buf.slice(nl + 1);
  }
});
s.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(1); });
s.on('close', () => { process.stdout.write('closed\\n'); process.exit(1); });`;

/** A long TCP stream through a service: who serves it, and how many lines came back so far. */
export interface Stream {
  /** The backend's name and the peer address the client sees. */
  readonly started: Promise<{ name: string; peer: string }>;
  /** Echoes received so far. */
  echoes(): number;
  /** Why it ended, if it did. */
  ended(): string | undefined;
  /** Resolves once `more` further echoes arrived (rejects if the stream ends first). */
  waitFor(more: number): Promise<void>;
}

// The echo servers of echoPods answer a connection with their name and then close; streams
// need servers that echo: these answer `name\n` and echo every line back.
const ECHO_SERVER = `
const net = require('node:net');
net.createServer((s) => { s.on('error', () => {}); s.write(process.argv[1] + '\\n'); s.pipe(s); })
  .listen(Number(process.argv[2]), '0.0.0.0', () => process.stdout.write('ready\\n'));`;

/** Starts a line-echoing server in each pod (port `port`), naming itself `pod<i>`. */
export async function streamServers(
  n: ServiceNode,
  which: readonly number[],
  port: number,
): Promise<void> {
  for (const i of which) {
    const p = spawn('nsenter', [
      `--net=/run/netns/${n.pods[i] ?? ''}`,
      process.execPath,
      '-e',
      ECHO_SERVER,
      `pod${i}`,
      String(port),
    ]);
    onTestFinished(() => void p.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      p.stdout.once('data', () => resolve());
      p.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    });
  }
}

/** Opens a long TCP stream from the pod namespace `ns` to host:port. */
export function stream(ns: string, host: string, port: number): Stream {
  const p = spawn('nsenter', [
    `--net=/run/netns/${ns}`,
    process.execPath,
    '-e',
    STREAM,
    host,
    String(port),
  ]);
  onTestFinished(() => void p.kill('SIGKILL'));
  let echoes = 0;
  let end: string | undefined;
  let buf = '';
  const waiters: { at: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  let onStart: ((v: { name: string; peer: string }) => void) | undefined;
  let onStartFail: ((e: Error) => void) | undefined;
  const started = new Promise<{ name: string; peer: string }>((res, rej) => {
    onStart = res;
    onStartFail = rej;
  });
  const fail = (why: string): void => {
    end = why;
    onStartFail?.(new Error(`stream ended: ${why}`));
    for (const w of waiters.splice(0))
      w.reject(new Error(`stream ended after ${echoes} echoes: ${why}`));
  };
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = /^name (\S+) peer (\S+)$/.exec(line);
      if (m) onStart?.({ name: m[1] ?? '', peer: m[2] ?? '' });
      else if (line.startsWith('echo ')) {
        echoes++;
        for (const w of waiters.filter((x) => x.at <= echoes)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      } else fail(line);
    }
  });
  p.on('exit', (code) => {
    if (end === undefined) fail(`exited ${code}`);
  });
  return {
    started,
    echoes: () => echoes,
    ended: () => end,
    waitFor: (more) =>
      new Promise((resolve, reject) => {
        if (end !== undefined) reject(new Error(`stream ended: ${end}`));
        else waiters.push({ at: echoes + more, resolve, reject });
      }),
  };
}

/** A cgroup for the test under the cgroup v2 root, removed when the test ends. */
export function testCgroupDir(root: string): string {
  return join(root, `cellium-svc-${process.pid}-${uniq()}`);
}
