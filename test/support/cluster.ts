// N "nodes" for multi-node tests: each a network namespace joined to the others by an underlay
// (a bridge in a namespace of its own, one veth per node), each running its own agent (own
// socket, state directory and bpf root) with its own pod CIDRs, and pods added through
// cellium-cni as a container runtime adds them. How the agents learn about each other is
// pluggable: by default each is given a --nodes-file listing the others; a test may pass other
// flags (a kvstore) instead. Every namespace, process and pin goes when the test finishes.
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { cellium, type CliRun } from './cli.js';
import { netns, sh, uniq } from './netns.js';
import { startReady } from './ns-script.js';
import { cniRunner } from './pods.js';
import { startAgent, tempDir, testBpfRoot, type AgentProcess, type Run } from './procs.js';

/** Where one node sits: its names and addresses (known before its agent starts). */
export interface NodeLayout {
  readonly index: number;
  /** The agent's --node-name; the cluster lists it as `default/<name>`. */
  readonly name: string;
  readonly netns: string;
  /** Its underlay addresses (on `eth0` of its namespace). */
  readonly ipv4: string;
  readonly ipv6: string;
  /** Its pod CIDRs. */
  readonly podCidrV4: string;
  readonly podCidrV6: string;
}

/** A running node. */
export interface ClusterNode extends NodeLayout {
  agent: AgentProcess;
  readonly dir: string;
  readonly bpfRoot: string;
  /** --nodes-file (when the cluster uses one). */
  readonly nodesFile: string;
  /** Pod namespaces and their addresses, in the order they were added. */
  readonly pods: string[];
  readonly podV4: string[];
  readonly podV6: string[];
  /** Runs `cellium` against this node's agent. */
  cli(...args: string[]): Promise<CliRun>;
  /** Adds a pod through cellium-cni; its index. */
  addPod(): Promise<number>;
  /** Stops the agent (SIGTERM by default) and starts it again with the same state and pins. */
  restart(signal?: NodeJS.Signals): Promise<void>;
}

/** How a cluster is made. */
export interface ClusterOptions {
  readonly nodes: number;
  /** Pods added on every node at start. */
  readonly podsPerNode?: number;
  /** Flags of every node's agent (besides socket, state, bpf root, node name and addresses). */
  readonly args?: (node: NodeLayout, all: readonly NodeLayout[]) => readonly string[];
  /**
   * How the agents learn about each other: 'nodes-file' (default: each gets a --nodes-file
   * listing the others), or 'none' (the test's `args` bring whatever it uses instead).
   */
  readonly discovery?: 'nodes-file' | 'none';
  /** Pods get IPv6 addresses too (default true). */
  readonly ipv6?: boolean;
  /**
   * Runs once the underlay exists and before any agent starts, e.g. to start a server the agents
   * use inside the underlay's namespace (on UNDERLAY_IPV4 / UNDERLAY_IPV6).
   */
  readonly beforeAgents?: (underlay: string) => Promise<void>;
}

/** The underlay bridge's own addresses (in the underlay's namespace), for servers the nodes use. */
export const UNDERLAY_IPV4 = '192.168.77.254';
export const UNDERLAY_IPV6 = 'fd77::fe';

/** The cluster. */
export interface Cluster {
  readonly id: string;
  readonly nodes: readonly ClusterNode[];
  /** The namespace holding the underlay bridge. */
  readonly underlay: string;
  /** Rewrites node `i`'s nodes file with these nodes (atomically, as an operator would). */
  writeNodesFile(i: number, others: readonly NodeLayout[]): void;
  /** Every namespace and bpf root the cluster made (to check that nothing is left behind). */
  readonly namespaces: readonly string[];
  readonly bpfRoots: readonly string[];
  /** Stops every agent (SIGTERM) and resolves with their exit codes. */
  stop(): Promise<(number | null)[]>;
}

/** A nodes file entry for a node. */
export function nodesFileEntry(n: NodeLayout, ipv6: boolean): Record<string, unknown> {
  return {
    name: `default/${n.name}`,
    ipv4: n.ipv4,
    ...(ipv6 ? { ipv6: n.ipv6 } : {}),
    'pod-cidrs': ipv6 ? [n.podCidrV4, n.podCidrV6] : [n.podCidrV4],
  };
}

/** The addresses of a CNI ADD's result, by family. */
function addedIps(r: Run): { v4?: string; v6?: string } {
  const ips = (JSON.parse(r.stdout) as { ips?: { address?: string }[] }).ips ?? [];
  const pick = (v6: boolean) =>
    ips.map((a) => a.address?.split('/')[0]).find((a) => a !== undefined && a.includes(':') === v6);
  const v4 = pick(false);
  const v6 = pick(true);
  return { ...(v4 ? { v4 } : {}), ...(v6 ? { v6 } : {}) };
}

/** Makes the underlay and the nodes, starts the agents and adds the pods. */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const id = uniq();
  const ipv6 = o.ipv6 ?? true;
  const underlay = netns(`cu-${id}`);
  sh('ip', ['-n', underlay, 'link', 'add', 'br0', 'type', 'bridge']);
  sh('ip', ['-n', underlay, 'link', 'set', 'br0', 'up']);
  sh('ip', ['-n', underlay, 'addr', 'add', `${UNDERLAY_IPV4}/24`, 'dev', 'br0']);
  sh('ip', ['-n', underlay, 'addr', 'add', `${UNDERLAY_IPV6}/64`, 'dev', 'br0', 'nodad']);
  const layouts: NodeLayout[] = Array.from({ length: o.nodes }, (_, i) => ({
    index: i,
    name: `node-${i}`,
    netns: netns(`cn${i}-${id}`),
    // Inside their own namespaces, so fixed addresses never meet another test's.
    ipv4: `192.168.77.${i + 1}`,
    ipv6: `fd77::${i + 1}`,
    podCidrV4: `10.77.${i + 1}.0/24`,
    podCidrV6: `fd77:${i + 1}::/112`,
  }));
  for (const n of layouts) {
    const br = `cb${n.index}-${id}`;
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
      n.netns,
    ]);
    sh('ip', ['-n', underlay, 'link', 'set', br, 'master', 'br0', 'up']);
    sh('ip', ['-n', n.netns, 'addr', 'add', `${n.ipv4}/24`, 'dev', 'eth0']);
    if (ipv6) sh('ip', ['-n', n.netns, 'addr', 'add', `${n.ipv6}/64`, 'dev', 'eth0', 'nodad']);
    sh('ip', ['-n', n.netns, 'link', 'set', 'eth0', 'up']);
  }
  await o.beforeAgents?.(underlay);
  const nodes: ClusterNode[] = [];
  const bpfRoots: string[] = [];
  const namespaces = [underlay, ...layouts.map((n) => n.netns)];
  const writeNodesFile = (i: number, others: readonly NodeLayout[]): void => {
    const file = nodes[i]?.nodesFile ?? '';
    writeFileSync(`${file}.tmp`, JSON.stringify(others.map((n) => nodesFileEntry(n, ipv6))));
    renameSync(`${file}.tmp`, file);
  };
  for (const n of layouts) {
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const bpfRoot = testBpfRoot();
    bpfRoots.push(bpfRoot);
    const nodesFile = join(dir, 'nodes.json');
    const others = layouts.filter((x) => x !== n);
    if (o.discovery !== 'none')
      writeFileSync(nodesFile, JSON.stringify(others.map((x) => nodesFileEntry(x, ipv6))));
    const opts = {
      netns: n.netns,
      dir,
      bpfRoot,
      args: [
        `--node-name=${n.name}`,
        `--ipv4-node=${n.ipv4}`,
        `--ipv6-node=${ipv6 ? n.ipv6 : ''}`,
        `--ipv4-range=${n.podCidrV4}`,
        ...(ipv6 ? ['--enable-ipv6', `--ipv6-range=${n.podCidrV6}`] : []),
        ...(o.discovery !== 'none' ? [`--nodes-file=${nodesFile}`] : []),
        // Small conntrack and LB maps: every agent's are preallocated.
        '--bpf-ct-global-tcp-max=16384',
        '--bpf-ct-global-any-max=16384',
        '--bpf-nat-global-max=16384',
        '--bpf-sock-rev-map-max=16384',
        '--bpf-lb-map-max=16384',
        ...(o.args?.(n, layouts) ?? []),
      ],
    };
    const agent = await startAgent(opts);
    const pods: string[] = [];
    const podV4: string[] = [];
    const podV6: string[] = [];
    const node: ClusterNode = {
      ...n,
      agent,
      dir,
      bpfRoot,
      nodesFile,
      pods,
      podV4,
      podV6,
      cli: (...args) => cellium(node.agent.socket, ...args),
      addPod: async () => {
        const i = pods.length;
        const pod = netns(`cp${n.index}${i}-${id}`);
        namespaces.push(pod);
        pods.push(pod);
        const cni = cniRunner({
          node: n.netns,
          socket: node.agent.socket,
          pods,
          id: `${id}n${n.index}`,
        });
        const r = await cni('ADD', i);
        if (r.code !== 0)
          throw new Error(`CNI ADD of pod ${i} on ${n.name} failed: ${r.stdout}${r.stderr}`);
        const ips = addedIps(r);
        podV4.push(ips.v4 ?? '');
        podV6.push(ips.v6 ?? '');
        return i;
      },
      restart: async (signal = 'SIGTERM') => {
        await node.agent.kill(signal);
        node.agent = await startAgent(opts);
      },
    };
    nodes.push(node);
  }
  for (const node of nodes) for (let i = 0; i < (o.podsPerNode ?? 0); i++) await node.addPod();
  return {
    id,
    nodes,
    underlay,
    writeNodesFile,
    namespaces,
    bpfRoots,
    stop: () => Promise.all(nodes.map((n) => n.agent.kill('SIGTERM'))),
  };
}

/** Whether a namespace or path still exists (after a cluster is torn down). */
export function leftovers(c: Cluster): string[] {
  const ns = new Set(
    sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? ''),
  );
  return [...c.namespaces.filter((n) => ns.has(n)), ...c.bpfRoots.filter((p) => existsSync(p))];
}

/** Pings `ip` from a pod namespace (IPv4 or IPv6); the ping's result. */
export function ping(ns: string, ip: string, count = 2): Promise<Run> {
  return runIn(ns, ['ping', '-c', String(count), '-W', '2', '-i', '0.2', ip]);
}

/** Runs a command in a namespace to completion. */
export function runIn(ns: string, cmd: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, ...cmd]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// A TCP sink: every connection's bytes are counted and hashed, and at its end the count and the
// hash are sent back. Prints "ready" once listening on :: (IPv4 and IPv6).
const SINK = `
const net = require('node:net');
const { createHash } = require('node:crypto');
net.createServer((s) => {
  const h = createHash('sha256');
  let n = 0;
  s.on('data', (d) => { n += d.length; h.update(d); });
  s.on('end', () => s.end(n + ' ' + h.digest('hex')));
  s.on('error', () => {});
}).listen({ host: '::', port: Number(process.argv[1]) }, () => process.stdout.write('ready\\n'));`;

// Sends argv[3] random bytes to argv[1]:argv[2] and prints {sent, hash, reply} (or {error}).
const SOURCE = `
const net = require('node:net');
const { createHash, randomBytes } = require('node:crypto');
const [host, port, total, timeout] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const h = createHash('sha256');
let reply = '';
const s = net.connect({ host, port });
s.setTimeout(timeout, () => { process.stdout.write(JSON.stringify({ error: 'timeout' })); process.exit(0); });
s.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code || e.message })); process.exit(0); });
s.on('connect', () => {
  let left = total;
  const more = () => {
    while (left > 0) {
      const chunk = randomBytes(Math.min(left, 65536));
      left -= chunk.length;
      h.update(chunk);
      if (!s.write(chunk)) return s.once('drain', more);
    }
    s.end();
  };
  more();
});
s.on('data', (d) => (reply += d));
s.on('end', () => process.stdout.write(JSON.stringify({ sent: total, hash: h.digest('hex'), reply })));`;

/** Starts a TCP sink in a pod (killed when the test finishes). */
export function startSink(ns: string, port: number): Promise<void> {
  return startReady(ns, SINK, [String(port)], 'sink');
}

/** What a transfer found: the bytes the sink counted and whether its hash matched. */
export interface Transfer {
  readonly ok: boolean;
  readonly error?: string;
  readonly received?: number;
}

/**
 * Sends `bytes` random bytes over one TCP connection from a pod to a sink and checks that the
 * sink got every byte unchanged. `timeoutMs` is the idle time after which the connection is
 * given up (a policy drop shows as a timeout).
 */
export async function transfer(
  ns: string,
  host: string,
  port: number,
  bytes: number,
  timeoutMs = 5000,
): Promise<Transfer> {
  const r = await runIn(ns, [
    process.execPath,
    '-e',
    SOURCE,
    host,
    String(port),
    String(bytes),
    String(timeoutMs),
  ]);
  let res: { error?: string; sent?: number; hash?: string; reply?: string };
  try {
    res = JSON.parse(r.stdout) as typeof res;
  } catch {
    return { ok: false, error: `client failed (${r.code}): ${r.stdout}${r.stderr}` };
  }
  if (res.error !== undefined) return { ok: false, error: res.error };
  const [count, hash] = (res.reply ?? '').split(' ');
  return {
    ok: Number(count) === bytes && hash === res.hash,
    received: Number(count),
    ...(hash !== res.hash ? { error: `hash mismatch (${res.reply ?? ''})` } : {}),
  };
}

/**
 * A device's rx/tx byte counters in a namespace (what /sys/class/net/<dev>/statistics shows
 * there); undefined when it does not exist. Bytes, not packets: a GSO packet counts once.
 */
export function deviceCounters(ns: string, dev: string): { rx: number; tx: number } | undefined {
  try {
    const [l] = JSON.parse(sh('ip', ['-n', ns, '-j', '-s', 'link', 'show', dev])) as {
      stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } };
    }[];
    return { rx: l?.stats64?.rx?.bytes ?? 0, tx: l?.stats64?.tx?.bytes ?? 0 };
  } catch {
    return undefined;
  }
}
