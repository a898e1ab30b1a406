// Pods → endpoints through the agent process and the real @kubernetes/client-node against the
// API server double: a pod's endpoint takes its Kubernetes labels and identity, its
// CiliumEndpoint appears; a label change gives a new identity in both; the endpoint's delete
// deletes the CiliumEndpoint; a restart waits for the caches, adopts what it left and prunes.
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';
import { restored, startAgent, tempDir } from './support/procs.js';

const NODE = 'node-k8s-ep';
const NODE_IP = '192.168.77.10';

interface CepStatus {
  id: number;
  identity: { id: number; labels: string[] };
  networking: { addressing: { ipv4?: string }[]; node: string };
  state: string;
  'named-ports': { name: string; port: number; protocol: string }[];
}
interface Cep {
  metadata: {
    name: string;
    namespace: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
  status?: CepStatus;
}
interface EndpointModel {
  id: number;
  status: { identity: { id: number; labels: string[] }; state: string };
}

async function cluster(): Promise<ApiServerDouble> {
  const api = await startApiServer();
  onTestFinished(() => api.stop());
  api.create('namespaces', { metadata: { name: 'shop', labels: { team: 'blue' } } });
  api.create('nodes', {
    metadata: { name: NODE },
    status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] },
  });
  return api;
}

function addPod(api: ApiServerDouble, name: string, labels: Record<string, string>) {
  return api.create<{
    metadata: { name: string; namespace: string; labels: object; uid?: string };
    spec: object;
  }>('pods', {
    metadata: { name, namespace: 'shop', labels },
    spec: {
      nodeName: NODE,
      serviceAccountName: 'web-sa',
      containers: [{ name: 'c', image: 'web', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
}

async function agentFor(api: ApiServerDouble, dir = tempDir()) {
  const agent = await startAgent({
    dir,
    args: [
      '--bpf-backend=memory',
      '--ipv4-range=10.77.0.0/24',
      `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
      `--node-name=${NODE}`,
      '--cluster-name=c1',
    ],
  });
  const client = new ApiClient(agent.socket);
  onTestFinished(() => client.close());
  return { agent, client, dir };
}

/** The PUT cellium-cni sends for a pod (no interface: the agent runs on in-memory maps). */
function cniPut(client: ApiClient, n: number, pod: string) {
  return client.request<EndpointModel>('PUT', '/endpoint/cilium-local:0', {
    body: {
      addressing: { ipv4: `10.77.0.${10 + n}` },
      'container-id': `ctr-${pod}`,
      mac: `02:00:00:00:01:0${n}`,
      'host-mac': '02:00:00:00:01:ff',
      'k8s-namespace': 'shop',
      'k8s-pod-name': pod,
      state: 'waiting-for-identity',
      'sync-build-endpoint': true,
      'datapath-configuration': {},
    },
  });
}

const cepNamed = (name: string) => (o: Cep) => o.metadata.name === name;

/** Resolves once the agent has registered the CiliumEndpoint CRD (the double then serves it). */
async function cepCrd(api: ApiServerDouble): Promise<void> {
  await api.waitFor<{ metadata: { name: string } }>(
    'customresourcedefinitions',
    (o) => o.metadata.name === 'ciliumendpoints.cilium.io',
  );
}

describe('pods and CiliumEndpoints with the API server double', () => {
  it('labels the endpoint from its pod, writes its CiliumEndpoint, follows a label change, deletes it with the endpoint', async () => {
    const api = await cluster();
    const pod = addPod(api, 'web-0', { app: 'web', 'pod-template-hash': '5d9f' });
    const { agent, client } = await agentFor(api);
    await restored(agent.socket);
    await cepCrd(api);

    const ep = await cniPut(client, 1, 'web-0');
    expect(ep.status.identity.labels).toEqual([
      'k8s:app=web',
      'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop',
      'k8s:io.cilium.k8s.namespace.labels.team=blue',
      'k8s:io.cilium.k8s.policy.cluster=c1',
      'k8s:io.cilium.k8s.policy.serviceaccount=web-sa',
      'k8s:io.kubernetes.pod.namespace=shop',
    ]);
    const first = ep.status.identity.id;

    const cep = await api.waitFor<Cep>(
      'ciliumendpoints',
      (o) => cepNamed('web-0')(o) && o.status?.state === 'ready',
    );
    expect(cep.metadata.namespace).toBe('shop');
    expect(cep.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: 'v1',
        kind: 'Pod',
        name: 'web-0',
        uid: pod.metadata.uid,
      }),
    ]);
    expect(cep.status).toMatchObject({
      id: ep.id,
      identity: { id: first, labels: ep.status.identity.labels },
      networking: { addressing: [{ ipv4: '10.77.0.11' }], node: NODE_IP },
      'named-ports': [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });

    api.patch(
      'pods',
      { name: 'web-0', namespace: 'shop' },
      {
        metadata: { labels: { app: 'web', tier: 'front' } },
      },
    );
    const second = await eventually(async () => {
      const e = await client.request<EndpointModel>('GET', `/endpoint/${ep.id}`);
      return e.status.identity.id !== first && e.status.state === 'ready' ? e : undefined;
    });
    expect(second.status.identity.labels).toContain('k8s:tier=front');
    await api.waitFor<Cep>(
      'ciliumendpoints',
      (o) => cepNamed('web-0')(o) && o.status?.identity.id === second.status.identity.id,
    );

    await client.request('DELETE', `/endpoint/${ep.id}`);
    await api.waitForGone<Cep>('ciliumendpoints', cepNamed('web-0'));
  });

  it('restarts: waits for the caches, refreshes labels, adopts its CiliumEndpoints and prunes stale ones', async () => {
    const api = await cluster();
    addPod(api, 'web-0', { app: 'web' });
    const one = await agentFor(api);
    await restored(one.agent.socket);
    await cepCrd(api);
    const ep = await cniPut(one.client, 1, 'web-0');
    await api.waitFor<Cep>(
      'ciliumendpoints',
      (o) => cepNamed('web-0')(o) && o.status?.state === 'ready',
    );
    await one.agent.kill('SIGTERM');

    // While it is down: its pod is relabelled, and a stale object of this node appears.
    api.patch(
      'pods',
      { name: 'web-0', namespace: 'shop' },
      {
        metadata: { labels: { app: 'web', tier: 'back' } },
      },
    );
    const stale = api.get<Cep>('ciliumendpoints', { name: 'web-0', namespace: 'shop' });
    api.create('ciliumendpoints', {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: 'gone', namespace: 'shop' },
      status: stale?.status,
    });

    // The API server is unreachable while the agent starts: restore waits for the caches.
    await api.pause();
    const two = await agentFor(api, one.dir);
    await eventually(async () => {
      const s = await two.client.request<{ cilium: { msg?: string } }>('GET', '/healthz');
      return s.cilium.msg?.includes('waiting for the Kubernetes caches (pods, namespaces)');
    });
    expect(await two.client.request<EndpointModel[]>('GET', '/endpoint')).toEqual([]);
    await api.resume();
    await restored(two.agent.socket);
    const back = await eventually(async () => {
      const e = await two.client.request<EndpointModel>('GET', `/endpoint/${ep.id}`);
      return e.status.identity.labels.includes('k8s:tier=back') && e.status.state === 'ready'
        ? e
        : undefined;
    });
    await api.waitFor<Cep>(
      'ciliumendpoints',
      (o) => cepNamed('web-0')(o) && o.status?.identity.id === back.status.identity.id,
    );
    await api.waitForGone<Cep>('ciliumendpoints', cepNamed('gone'));
    expect(
      api.requests.filter(
        (r) => r.method === 'POST' && r.resource === 'ciliumendpoints' && r.code === 201,
      ),
    ).toHaveLength(1);
  });
});
