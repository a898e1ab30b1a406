// Kubernetes policies end to end: an agent in Kubernetes mode (--k8s-kubeconfig-path) against
// the API server double, in a node namespace, with three pods added by cellium-cni. A
// NetworkPolicy created in the API server isolates the backend pod except from the frontend on
// TCP 80 (real TCP: connects succeed or time out in bpf_lxc), and deleting it opens the pod
// again; then a CiliumNetworkPolicy likewise, deleted while the agent is down (its rules, kept in
// rules.json, go at the restarted agent's first sync). The agent reaches the double (on the
// test's 127.0.0.1) through a unix socket: a relay in the node namespace listens on the double's
// port on its own loopback. Root only.
import { expect, it, onTestFinished } from 'vitest';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer } from './support/apiserver.js';
import { apiServerBridge } from './support/apiserver-bridge.js';
import { celliumJson } from './support/cli.js';
import { serviceNode, type ServiceNode } from './support/services.js';
import { startServers, tcpClient, type TcpResult } from './support/socket-lb.js';
import { tempDir } from './support/procs.js';

/** The pods: 0 frontend, 1 backend, 2 other (cniRunner names them default/pod<i>). */
const APPS = ['frontend', 'backend', 'other'] as const;
const FE = 0;
const BE = 1;
const OTHER = 2;
const NODE = 'node-a';

/** A Pod object of this node, as the kubelet's API server has it. */
function pod(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod${i}`, namespace: 'default', labels: { app: APPS[i] } },
    spec: { nodeName: NODE, containers: [{ name: 'c', image: 'busybox' }] },
  };
}

/** One TCP connection from pod `from` to host:port: what the server said, or the error. */
async function connect(n: ServiceNode, from: number, host: string, port: number): Promise<string> {
  const [r] = await tcpClient(
    { ns: n.pods[from] ?? '' },
    { host, port, timeoutMs: 1500, times: 1 },
    false,
  );
  return (r as TcpResult).data ?? (r as TcpResult).error ?? '';
}

/** The endpoint labels of pod `i` (security-relevant, as the agent uses them). */
async function podLabels(n: ServiceNode, i: number): Promise<string[]> {
  const ep = await celliumJson<{ status?: { labels?: { 'security-relevant'?: string[] } } }>(
    n.agent.socket,
    'endpoint',
    'get',
    `pod-name:default/pod${i}`,
  );
  return ep.status?.labels?.['security-relevant'] ?? [];
}

/** The revision, and the number of rules carrying `label` (GET /policy answers 404 for none). */
async function rulesWith(n: ServiceNode, label: string): Promise<{ rev: number; count: number }> {
  const r = await n.cli('-o', 'json', 'policy', 'get', label);
  if (r.code !== 0) {
    if (!r.stderr.includes('404')) throw new Error(`policy get ${label}: ${r.stderr}`);
    const all = await celliumJson<{ revision: number }>(n.agent.socket, 'policy', 'get');
    return { rev: all.revision, count: 0 };
  }
  const p = JSON.parse(r.stdout) as { revision: number; policy: string };
  return { rev: p.revision, count: (JSON.parse(p.policy) as unknown[]).length };
}

/**
 * Waits until the repository holds (or no longer holds) the rules of the policy `name`, and the
 * endpoints have reached that revision; the agent's health is in the error if it never does.
 */
async function policyApplied(n: ServiceNode, name: string, present: boolean): Promise<void> {
  const label = `k8s:io.cilium.k8s.policy.name=${name}`;
  let rev;
  try {
    rev = await eventually(async () => {
      const { rev: r, count } = await rulesWith(n, label);
      return count > 0 === present ? r : undefined;
    }, 60_000);
  } catch (e) {
    const st = await n.cli('status', '--verbose');
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${st.stdout}${st.stderr}`);
  }
  const w = await n.cli('policy', 'wait', String(rev), '--max-wait-time', '60s');
  expect(w.code, `${w.stdout}${w.stderr}`).toBe(0);
}

const BACKEND_FROM_FRONTEND = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'backend-from-frontend', namespace: 'default' },
  spec: {
    podSelector: { matchLabels: { app: 'backend' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [{ podSelector: { matchLabels: { app: 'frontend' } } }],
        ports: [{ protocol: 'TCP', port: 80 }],
      },
    ],
  },
};

const BACKEND_81_FROM_FRONTEND = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'backend-81', namespace: 'default' },
  spec: {
    endpointSelector: { matchLabels: { app: 'backend' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
        toPorts: [{ ports: [{ port: '81', protocol: 'TCP' }] }],
      },
    ],
  },
};

kernelSuite(
  'Kubernetes NetworkPolicy on real pods (agent in Kubernetes mode, API server double)',
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter'] },
  () => {
    it('a NetworkPolicy isolates the selected pod except from the allowed peer and port; deleted, it is open again', async () => {
      const api = await startApiServer();
      onTestFinished(() => api.stop());
      for (let i = 0; i < APPS.length; i++) api.create('pods', pod(i));
      const into = await apiServerBridge(api, tempDir('cellium-k8s-policy-'));
      let relayUp: Promise<void> = Promise.resolve();
      const n = await serviceNode({
        pods: APPS.length,
        args: [`--k8s-kubeconfig-path=${api.kubeconfigPath}`],
        before: (node) => {
          relayUp = into(node);
        },
      });
      await relayUp;
      // The pods' Kubernetes labels are their endpoints' (the endpoint cell reads the reflected
      // Pods): nothing gives them through the endpoint API.
      for (const [i, app] of APPS.entries()) {
        const want = [`k8s:app=${app}`, 'k8s:io.kubernetes.pod.namespace=default'];
        await eventually(async () => {
          const labels = await podLabels(n, i);
          return want.every((l) => labels.includes(l));
        });
      }
      const be = n.ips[BE] ?? '';
      await startServers(n.pods[BE] ?? '', [
        { proto: 'tcp', host: '0.0.0.0', port: 80, name: 'backend:80' },
        { proto: 'tcp', host: '0.0.0.0', port: 81, name: 'backend:81' },
      ]);
      // No policy: everything talks.
      expect(await connect(n, FE, be, 80)).toBe('backend:80');
      expect(await connect(n, OTHER, be, 80)).toBe('backend:80');
      expect(await connect(n, FE, be, 81)).toBe('backend:81');

      api.create('networkpolicies', BACKEND_FROM_FRONTEND);
      await policyApplied(n, 'backend-from-frontend', true);
      expect(await connect(n, FE, be, 80)).toBe('backend:80');
      expect(await connect(n, OTHER, be, 80)).toBe('timeout');
      expect(await connect(n, FE, be, 81)).toBe('timeout');
      // Pods the policy does not select keep their open ingress.
      await startServers(n.pods[OTHER] ?? '', [
        { proto: 'tcp', host: '0.0.0.0', port: 80, name: 'other:80' },
      ]);
      expect(await connect(n, BE, n.ips[OTHER] ?? '', 80)).toBe('other:80');

      api.delete('networkpolicies', { name: 'backend-from-frontend', namespace: 'default' });
      await policyApplied(n, 'backend-from-frontend', false);
      expect(await connect(n, OTHER, be, 80)).toBe('backend:80');
      expect(await connect(n, FE, be, 81)).toBe('backend:81');

      // A CiliumNetworkPolicy (the CRD the agent registered): the frontend on TCP 81 only.
      api.create('ciliumnetworkpolicies', BACKEND_81_FROM_FRONTEND);
      await policyApplied(n, 'backend-81', true);
      expect(await connect(n, FE, be, 81)).toBe('backend:81');
      expect(await connect(n, FE, be, 80)).toBe('timeout');
      expect(await connect(n, OTHER, be, 81)).toBe('timeout');

      // Deleted while the agent is down: its rules (kept in rules.json) go at the first sync.
      await n.agent.kill('SIGKILL');
      api.delete('ciliumnetworkpolicies', { name: 'backend-81', namespace: 'default' });
      await n.restart('SIGKILL');
      await policyApplied(n, 'backend-81', false);
      expect(await connect(n, OTHER, be, 81)).toBe('backend:81');
      expect(await connect(n, FE, be, 80)).toBe('backend:80');
    }, 300_000);
  },
);
