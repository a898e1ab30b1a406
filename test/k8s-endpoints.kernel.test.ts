// A pod's label change on real pods: an agent in Kubernetes mode (API server double, reached
// through a relay) in a node namespace, two pods added by cellium-cni. A pod's labels are
// changed in the API server while the client pings the server every 20 ms (one flow) and opens
// a new TCP connection to it every 20 ms (new flows, each checked against policy): the endpoint
// gets a new identity (in the agent and in its CiliumEndpoint), its datapath regenerated in
// place, and nothing is lost — also when the server's ingress policy selects the client by a
// label the change keeps (a change to a label it does not allow makes this test fail). Root only.
import { spawn } from 'node:child_process';
import { expect, it, onTestFinished } from 'vitest';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';
import { apiServerBridge } from './support/apiserver-bridge.js';
import { celliumJson } from './support/cli.js';
import { startReady } from './support/ns-script.js';
import { tempDir } from './support/procs.js';
import { serviceNode, type ServiceNode } from './support/services.js';

const NODE = 'node-a';

function pod(i: number, labels: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod${i}`, namespace: 'default', labels },
    spec: { nodeName: NODE, containers: [{ name: 'c', image: 'busybox' }] },
  };
}

interface EndpointModel {
  status: {
    identity: { id: number; labels: string[] };
    state: string;
    policy?: { realized?: { 'policy-revision'?: number } };
  };
}

/** A ping from `ns` to `ip` every 20 ms; its replies by icmp_seq. */
function pinger(ns: string, ip: string) {
  const ping = spawn('ip', ['netns', 'exec', ns, 'ping', '-i', '0.02', ip]);
  onTestFinished(() => void ping.kill('SIGKILL'));
  let out = '';
  ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const replied = () => [...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
  return {
    output: () => out,
    last: () => Math.max(0, ...replied()),
    /** Stops it: the sequence numbers never answered, up to the last answered one. */
    stop(): number[] {
      ping.kill('SIGINT');
      const got = new Set(replied());
      const last = Math.max(0, ...got);
      return Array.from({ length: last }, (_, i) => i + 1).filter((s) => !got.has(s));
    },
  };
}

// In a pod: a new TCP connection to host:port every 20 ms (argv: host, port), one line each:
// 'ok <n>' when the server answered, 'fail <n> <why>' otherwise.
const CONNECTS = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
let n = 0;
const once = () => {
  const i = ++n;
  let done = false;
  const end = (line) => { if (done) return; done = true; clearTimeout(t); s.destroy(); console.log(line); setTimeout(once, 20); };
  const s = net.connect({ host, port });
  const t = setTimeout(() => end('fail ' + i + ' timeout'), 1000);
  s.on('data', () => end('ok ' + i));
  s.on('error', (e) => end('fail ' + i + ' ' + e.code));
};
once();`;

// In a pod: a TCP server on port 80 that answers each connection and closes it.
const SERVER = `require('node:net').createServer((s) => s.end('server')).listen(80, () => console.log('ready'));`;

/** New connections from `ns` to `ip`:80 every 20 ms; what they got. */
function connector(ns: string, ip: string) {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', CONNECTS, ip, '80']);
  onTestFinished(() => void p.kill('SIGKILL'));
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const lines = () => out.split('\n').filter((l) => l !== '');
  return {
    count: () => lines().length,
    /** Stops it: the attempts that failed. */
    stop(): string[] {
      p.kill('SIGKILL');
      return lines().filter((l) => !l.startsWith('ok '));
    },
  };
}

/** A node in Kubernetes mode with pod0 (app=client) and pod1 (app=server, serving TCP 80). */
async function k8sNode(): Promise<{ api: ApiServerDouble; n: ServiceNode }> {
  const api = await startApiServer();
  onTestFinished(() => api.stop());
  api.create('pods', pod(0, { app: 'client' }));
  api.create('pods', pod(1, { app: 'server' }));
  const into = await apiServerBridge(api, tempDir('cellium-k8s-ep-'));
  let relayUp: Promise<void> = Promise.resolve();
  const n = await serviceNode({
    pods: 2,
    args: [`--k8s-kubeconfig-path=${api.kubeconfigPath}`],
    before: (node) => {
      relayUp = into(node);
    },
  });
  await relayUp;
  await startReady(n.pods[1] ?? '', SERVER, [], 'the server in pod1');
  return { api, n };
}

/**
 * Relabels pod `i` in the API server while pod0 pings pod1 (one flow, established before) and
 * opens new connections to it (each a new flow, checked against policy); resolves with the
 * endpoint once it has its new identity and is ready, after checking that nothing was lost.
 */
async function relabelUnderPing(
  api: ApiServerDouble,
  n: ServiceNode,
  i: number,
  labels: Record<string, string>,
): Promise<EndpointModel> {
  const ep = () =>
    celliumJson<EndpointModel>(n.agent.socket, 'endpoint', 'get', `pod-name:default/pod${i}`);
  const before = await ep();
  const ping = pinger(n.pods[0] ?? '', n.ips[1] ?? '');
  const conns = connector(n.pods[0] ?? '', n.ips[1] ?? '');
  await eventually(() => ping.last() >= 10 && conns.count() >= 5);
  api.patch('pods', { name: `pod${i}`, namespace: 'default' }, { metadata: { labels } });
  const after = await eventually(async () => {
    const e = await ep();
    return e.status.identity.id !== before.status.identity.id && e.status.state === 'ready'
      ? e
      : undefined;
  });
  await api.waitFor<{ metadata: { name: string }; status?: { identity?: { id: number } } }>(
    'ciliumendpoints',
    (o) => o.metadata.name === `pod${i}` && o.status?.identity?.id === after.status.identity.id,
  );
  // Echoes well after the change, then every sequence number up to there answered.
  const [mark, marked] = [ping.last(), conns.count()];
  await eventually(() => ping.last() >= mark + 25 && conns.count() >= marked + 10, 60_000);
  expect(ping.stop(), ping.output()).toEqual([]);
  expect(conns.stop()).toEqual([]);
  return after;
}

kernelSuite(
  "a pod's label change on real pods (agent in Kubernetes mode, API server double)",
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'ping'] },
  () => {
    it('gives the endpoint a new identity in place: a ping running through it loses nothing', async () => {
      const { api, n } = await k8sNode();
      const after = await relabelUnderPing(api, n, 1, { app: 'server', tier: 'v2' });
      expect(after.status.identity.labels).toEqual(
        expect.arrayContaining(['k8s:app=server', 'k8s:tier=v2']),
      );
    }, 300_000);

    it("keeps a policy-allowed flow while the client's identity changes", async () => {
      const { api, n } = await k8sNode();
      api.create('ciliumnetworkpolicies', {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'server-from-client', namespace: 'default' },
        spec: {
          endpointSelector: { matchLabels: { app: 'server' } },
          ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }] }],
        },
      });
      // The rule in the repository and realized by the endpoints before the change.
      const rev = await eventually(async () => {
        const pol = await celliumJson<{ revision: number; policy: string }>(
          n.agent.socket,
          'policy',
          'get',
        );
        return (JSON.parse(pol.policy) as unknown[]).length > 0 ? pol.revision : undefined;
      });
      const w = await n.cli('policy', 'wait', String(rev), '--max-wait-time', '60s');
      expect(w.code, w.stdout + w.stderr).toBe(0);
      const after = await relabelUnderPing(api, n, 0, { app: 'client', tier: 'v2' });
      expect(after.status.identity.labels).toContain('k8s:tier=v2');
    }, 300_000);
  },
);
