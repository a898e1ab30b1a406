// The monitor end to end on the real kernel: the agent in a node namespace with pods added by
// cellium-cni, `cellium monitor` spawned as an operator runs it, frames written from inside a
// pod with a packet socket, real TCP between pods, and a deny rule. Root only
// (core/testing/kernel.ts); every namespace, pin and process goes with its test.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, it, onTestFinished } from 'vitest';
import { openMap } from '../core/bpf/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { MONITOR_CONFIG_MAP, REASON } from '../cells/maps/index.js';
import type { DropEvent, MonitorEvent, TraceEvent } from '../cells/monitor/index.js';
import { malformedIpv4 } from './support/packets.js';
import { cniRunner } from './support/pods.js';
import { netns, sh } from './support/netns.js';
import { program, ROOT } from './support/procs.js';
import { serviceNode, type ServiceNode } from './support/services.js';
import { tcpClient } from './support/socket-lb.js';

/** A running `cellium monitor`: its output lines as they come. */
interface MonitorProc {
  readonly lines: string[];
  /** Resolves with the first line (from `from` on) that `pred` accepts, and its index. */
  next(pred: (line: string) => boolean, from?: number): Promise<{ line: string; at: number }>;
  /** The monotonic time (ns) each line arrived. */
  readonly arrived: bigint[];
  stop(): Promise<number | null>;
}

function monitor(n: ServiceNode, ...args: string[]): MonitorProc {
  const proc = spawn(
    program('cellium')[0] ?? 'node',
    [...program('cellium').slice(1), '-H', `unix://${n.agent.socket}`, 'monitor', ...args],
    { cwd: ROOT },
  );
  const lines: string[] = [];
  const arrived: bigint[] = [];
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  createInterface({ input: proc.stdout }).on('line', (l) => {
    lines.push(l);
    arrived.push(process.hrtime.bigint());
  });
  onTestFinished(async () => {
    proc.kill('SIGKILL');
    await exited;
  });
  return {
    lines,
    arrived,
    next: async (pred, from = 0) => {
      const at = await eventually(() => {
        const i = lines.findIndex((l, j) => j >= from && pred(l));
        if (i >= 0) return i + 1;
        if (proc.exitCode !== null) throw new Error(`cellium monitor exited: ${stderr}`);
        return 0;
      }, 20_000);
      return { line: lines[at - 1] ?? '', at: at - 1 };
    },
    stop: async () => {
      proc.kill('SIGINT');
      return exited;
    },
  };
}

/** How many monitors the agent has told the datapath about (cellium_monitor_config). */
/** Datapath events the agent has read, by type (cellium_monitor_events_total in /v1/metrics/). */
async function monitorEvents(n: ServiceNode): Promise<{ drop: number; trace: number }> {
  const r = await n.cli('metrics', 'list', '-o', 'json', '-p', '^cellium_monitor_events_total$');
  expect(r.code, r.stderr).toBe(0);
  const all = JSON.parse(r.stdout) as {
    name: string;
    labels?: Record<string, string>;
    value: number;
  }[];
  const of = (type: string): number => all.find((m) => m.labels?.type === type)?.value ?? 0;
  return { drop: of('drop'), trace: of('trace') };
}

function listeners(n: ServiceNode): number {
  const m = openMap(MONITOR_CONFIG_MAP, { backend: 'kernel', pinDir: `${n.bpfRoot}/tc/globals` });
  try {
    return m.lookup({ index: 0 })?.listeners ?? 0;
  } finally {
    m.close();
  }
}

/** Writes a raw Ethernet frame out of a pod's eth0 (a packet socket in its namespace). */
function sendFrame(pod: string, frame: Buffer): void {
  sh('ip', [
    'netns',
    'exec',
    pod,
    'python3',
    '-c',
    "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0)); s.send(bytes.fromhex(sys.argv[1]))",
    frame.toString('hex'),
  ]);
}

/** Endpoint id and identity of pod `i`. */
async function endpointOf(n: ServiceNode, i: number): Promise<{ id: number; identity: number }> {
  const r = await n.cli('endpoint', 'get', `pod-name:default/pod${i}`);
  expect(r.code, r.stderr).toBe(0);
  const ep = JSON.parse(r.stdout) as { id: number; status: { identity: { id: number } } };
  return { id: ep.id, identity: ep.status.identity.id };
}

async function node(): Promise<ServiceNode> {
  const n = await serviceNode({ pods: 3 });
  for (const [i, app] of ['frontend', 'backend', 'other'].entries()) {
    const r = await n.cli(
      'endpoint',
      'labels',
      `pod-name:default/pod${i}`,
      '--add',
      `k8s:app=${app}`,
    );
    expect(r.code, r.stderr).toBe(0);
  }
  return n;
}

kernelSuite(
  'cellium monitor on the kernel',
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'python3'] },
  () => {
    it('shows a malformed frame from a pod as a drop with its reason and identities, and filters by endpoint', async () => {
      const n = await node();
      const fe = await endpointOf(n, 0);
      const be = await endpointOf(n, 1);
      expect(listeners(n)).toBe(0);
      const mon = monitor(n, '--type', 'drop', '-o', 'json');
      const rel = monitor(n, '--type', 'drop', '--related-to', String(be.id), '-o', 'json');
      await eventually(() => listeners(n) === 2, 20_000);

      const sent = process.hrtime.bigint();
      sendFrame(n.pods[0] ?? '', malformedIpv4());
      const { line, at } = await mon.next((l) => (JSON.parse(l) as MonitorEvent).type === 'drop');
      const drop = JSON.parse(line) as DropEvent;
      expect(drop).toMatchObject({
        type: 'drop',
        reason: REASON.INVALID,
        reasonText: 'Invalid packet',
        prog: 'bpf_lxc',
        direction: 'egress',
        source: fe.id,
        srcIdentity: fe.identity,
      });
      // The frame itself, as the pod sent it (IHL 4).
      expect(Buffer.from(drop.data, 'base64').subarray(0, 34)).toEqual(
        malformedIpv4().subarray(0, 34),
      );
      // In order: sent, stamped by the datapath, received by the CLI (all CLOCK_MONOTONIC).
      const ktime = BigInt(drop.ktime);
      const received = mon.arrived[at] ?? 0n;
      expect(ktime).toBeGreaterThanOrEqual(sent);
      expect(received).toBeGreaterThanOrEqual(ktime);
      console.log(
        `monitor: frame written (python3 started) -> in the ring ${Number(ktime - sent) / 1e6} ms -> printed by cellium monitor ${Number(received - ktime) / 1e6} ms`,
      );

      // --related-to: the frontend's drop is not the backend's; the backend's own is.
      sendFrame(n.pods[1] ?? '', malformedIpv4());
      const mine = await rel.next(() => true);
      expect(JSON.parse(mine.line)).toMatchObject({
        type: 'drop',
        source: be.id,
        srcIdentity: be.identity,
      });
      expect(mine.at).toBe(0);

      expect(await mon.stop()).toBe(0);
      await eventually(() => listeners(n) === 1, 20_000);
      expect(await rel.stop()).toBe(0);
      await eventually(() => listeners(n) === 0, 20_000);
    });

    it('names the identities of a policy drop by their labels, and traces new connections only while a monitor listens', async () => {
      const n = await node();
      const fe = await endpointOf(n, 0);
      const other = await endpointOf(n, 2);
      const file = join(n.dir, 'deny.yaml');
      writeFileSync(
        file,
        JSON.stringify([
          {
            endpointSelector: { matchLabels: { app: 'backend' } },
            ingress: [{ fromEndpoints: [{ matchLabels: { app: 'other' } }] }],
          },
        ]),
      );
      const imp = await n.cli('policy', 'import', file);
      expect(imp.code, imp.stderr).toBe(0);
      const rev = /Revision: (\d+)/.exec(imp.stdout)?.[1] ?? '';
      expect((await n.cli('policy', 'wait', rev, '--max-wait-time', '30s')).code).toBe(0);

      const drops = monitor(n, '--type', 'drop');
      const traces = monitor(n, '--type', 'trace', '-o', 'json');
      await eventually(() => listeners(n) === 2, 20_000);
      const be = n.ips[1] ?? '';
      await tcpClient(
        { ns: n.pods[0] ?? '' },
        { host: be, port: 80, timeoutMs: 500, times: 1 },
        false,
      );
      // (Other drops may come first: IPv6 multicast listener reports to the enforced backend.)
      const { line } = await drops.next(
        (l) => l.includes('drop (Policy denied)') && l.includes(`-> ${be}:80 tcp SYN`),
      );
      expect(line).toMatch(
        /identity \d+ \([^)]*k8s:app=frontend[^)]*\)->\d+ \([^)]*k8s:app=backend[^)]*\)/,
      );
      expect(line).toContain(`${n.ips[0]}:`);
      expect(line).toContain(`-> ${be}:80 tcp SYN`);

      // A new connection to the other pod (nothing listens: a RST answers the SYN) is traced
      // as it is delivered to that pod's endpoint.
      const port = 81;
      await tcpClient(
        { ns: n.pods[0] ?? '' },
        { host: n.ips[2] ?? '', port, timeoutMs: 500, times: 1 },
        false,
      );
      const t = await traces.next((l) => {
        const e = JSON.parse(l) as TraceEvent;
        return e.observationPoint === 'to-endpoint' && e.dstEndpoint === other.id;
      });
      expect(JSON.parse(t.line)).toMatchObject({
        type: 'trace',
        source: fe.id,
        traceReason: 'new',
        srcIdentity: fe.identity,
        dstIdentity: other.identity,
      });
      expect(await drops.stop()).toBe(0);
      expect(await traces.stop()).toBe(0);
      // Nobody listens: the datapath writes no traces (drops still go in), as the agent's count
      // of the events it read shows.
      await eventually(() => listeners(n) === 0, 20_000);
      const before = await monitorEvents(n);
      await tcpClient(
        { ns: n.pods[0] ?? '' },
        { host: n.ips[2] ?? '', port: 82, timeoutMs: 500, times: 1 },
        false,
      );
      await tcpClient(
        { ns: n.pods[0] ?? '' },
        { host: be, port: 80, timeoutMs: 500, times: 1 },
        false,
      );
      await eventually(async () => (await monitorEvents(n)).drop > before.drop, 20_000);
      expect((await monitorEvents(n)).trace).toBe(before.trace);
    });

    it('reports endpoints created and deleted as agent notifications', async () => {
      const n = await node();
      const agentEvents = monitor(n, '--type', 'agent', '-o', 'json');
      await eventually(() => listeners(n) === 1, 20_000);
      const pod = netns(`cm-${n.id}`);
      const cni = cniRunner({ node: n.node, socket: n.agent.socket, pods: [pod], id: `m${n.id}` });
      const add = await cni('ADD', 0);
      expect(add.code, add.stderr).toBe(0);
      const created = await agentEvents.next((l) => l.includes('"endpoint-created"'));
      const id = (JSON.parse(created.line) as { endpoint: number }).endpoint;
      expect(id).toBeGreaterThan(0);
      const del = await cni('DEL', 0);
      expect(del.code, del.stderr).toBe(0);
      const deleted = await agentEvents.next((l) => l.includes('"endpoint-deleted"'), created.at);
      expect(JSON.parse(deleted.line)).toMatchObject({ type: 'agent', endpoint: id });
    });
  },
);
