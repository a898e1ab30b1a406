// A pod's label change on real pods: an agent in Kubernetes mode (API server double, reached
// through a relay) in a node namespace, two pods added by cellium-cni. The server pod's labels
// are changed in the API server while the client pings it every 20 ms: the endpoint gets a new
// identity (in the agent and in its CiliumEndpoint), its datapath regenerated in place, and not
// one echo is lost. Root only.
import { spawn } from 'node:child_process';
import { expect, it, onTestFinished } from 'vitest';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer } from './support/apiserver.js';
import { apiServerBridge } from './support/apiserver-bridge.js';
import { celliumJson } from './support/cli.js';
import { tempDir } from './support/procs.js';
import { serviceNode } from './support/services.js';

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
  status: { identity: { id: number; labels: string[] }; state: string };
}

kernelSuite(
  "a pod's label change on real pods (agent in Kubernetes mode, API server double)",
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'ping'] },
  () => {
    it('gives the endpoint a new identity in place: a ping running through it loses nothing', async () => {
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
      const server = () =>
        celliumJson<EndpointModel>(n.agent.socket, 'endpoint', 'get', 'pod-name:default/pod1');
      const before = await server();
      expect(before.status.identity.labels).toContain('k8s:app=server');
      expect(before.status.identity.labels).not.toContain('k8s:tier=v2');

      const ping = spawn('ip', [
        'netns',
        'exec',
        n.pods[0] ?? '',
        'ping',
        '-i',
        '0.02',
        n.ips[1] ?? '',
      ]);
      onTestFinished(() => void ping.kill('SIGKILL'));
      let out = '';
      ping.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const replied = () => [...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
      await eventually(() => replied().length >= 10);

      api.patch(
        'pods',
        { name: 'pod1', namespace: 'default' },
        {
          metadata: { labels: { app: 'server', tier: 'v2' } },
        },
      );
      const after = await eventually(async () => {
        const ep = await server();
        return ep.status.identity.id !== before.status.identity.id && ep.status.state === 'ready'
          ? ep
          : undefined;
      });
      expect(after.status.identity.labels).toContain('k8s:tier=v2');
      await api.waitFor<{ metadata: { name: string }; status?: { identity?: { id: number } } }>(
        'ciliumendpoints',
        (o) => o.metadata.name === 'pod1' && o.status?.identity?.id === after.status.identity.id,
      );
      // Echoes well after the regeneration, then every sequence number up to there answered.
      const mark = Math.max(...replied());
      await eventually(() => Math.max(...replied()) >= mark + 25);
      ping.kill('SIGINT');
      const got = new Set(replied());
      const last = Math.max(...got);
      const lost = Array.from({ length: last }, (_, i) => i + 1).filter((s) => !got.has(s));
      expect(lost, out).toEqual([]);
      expect(last).toBeGreaterThan(mark);
    }, 300_000);
  },
);
