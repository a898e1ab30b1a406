// The Kubernetes mode's scenarios end to end, one agent process (in-memory maps) joined to the
// test's Kubernetes through its kubeconfig: the API server double, or the real cluster $KUBECONFIG
// points at (the double's runs always; the cluster's is skipped with the reason when it is unset,
// and scenarios that need the double's controls — dropping watches, an unreachable API server —
// skip on a cluster). Pods here are API objects bound to the test's node name; their endpoints are
// created as cellium-cni creates them. The kernel side is in k8s-policy.kernel.test.ts (a
// NetworkPolicy enforced on real pods), k8s-services.test.ts (the pinned LB maps) and
// k8s-endpoints.kernel.test.ts (no loss for unaffected flows across a label change).
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import type { Model } from '../core/api/types.js';
import { eventually } from '../core/testing/test-hive.js';
import { openK8sTarget, realClusterKubeconfig } from './support/k8s-target.js';
import { restored, startAgent, tempDir } from './support/procs.js';

type Endpoint = Model<'Endpoint'>;
type Service = Model<'Service'>;

interface Cep {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  status?: { identity?: { id: number; labels: string[] }; state?: string };
}

const TARGETS: { name: string; skip?: string }[] = [
  { name: 'the API server double' },
  {
    name: 'a real cluster',
    ...(realClusterKubeconfig() ? {} : { skip: 'KUBECONFIG is not set (no cluster to run on)' }),
  },
];

/** The test's target and an agent joined to it, all removed when the test finishes. */
async function world(opts: { paused?: boolean } = {}) {
  const target = await openK8sTarget({ double: { bookmarkIntervalMs: 200 } });
  onTestFinished(() => target.close());
  const node = `k8s-scn-${randomBytes(3).toString('hex')}`;
  const cidr = `10.${randomInt(100, 160)}.${randomInt(0, 256)}.0/24`;
  if (opts.paused) await target.double?.pause();
  const agent = await startAgent({
    dir: tempDir(),
    args: [
      '--bpf-backend=memory',
      `--ipv4-range=${cidr}`,
      `--k8s-kubeconfig-path=${target.kubeconfigPath}`,
      `--node-name=${node}`,
    ],
  });
  const client = new ApiClient(agent.socket);
  onTestFinished(() => client.close());
  const base = cidr.split('.').slice(0, 3).join('.');
  let n = 0;
  return {
    target,
    agent,
    client,
    node,
    ns: target.namespace,
    /** Creates a pod bound to this node. */
    pod: (name: string, labels: Record<string, string>) =>
      target.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: target.namespace, labels },
        spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.invalid/c' }] },
      }),
    /** The endpoint PUT cellium-cni sends for a pod. */
    endpointFor: (pod: string) => {
      n += 1;
      return client.request<Endpoint>('PUT', '/endpoint/cilium-local:0', {
        body: {
          addressing: { ipv4: `${base}.${10 + n}` },
          'container-id': `ctr-${pod}-${n}`,
          mac: `02:00:00:00:02:${(16 + n).toString(16)}`,
          'host-mac': '02:00:00:00:02:ff',
          'k8s-namespace': target.namespace,
          'k8s-pod-name': pod,
          state: 'waiting-for-identity',
          'sync-build-endpoint': true,
          'datapath-configuration': {},
        },
      });
    },
    endpoint: (id: number) => client.request<Endpoint>('GET', `/endpoint/${id}`),
  };
}

type World = Awaited<ReturnType<typeof world>>;

async function cep(w: World, name: string, pred: (c: Cep) => boolean): Promise<Cep> {
  // The agent registers the CRD in the background; the kind is served once it is established.
  await w.target.waitFor<{ apiVersion: string; kind: string; metadata: { name: string } }>(
    'apiextensions.k8s.io/v1',
    'CustomResourceDefinition',
    (o) => o.metadata.name === 'ciliumendpoints.cilium.io',
  );
  return w.target.waitFor<Cep & { [k: string]: unknown }>(
    'cilium.io/v2',
    'CiliumEndpoint',
    (c) => c.metadata.name === name && pred(c),
    { namespace: w.ns },
  );
}

/** The k8s services the agent lists, by namespace/name, with their backends' addresses. */
async function k8sServices(w: World): Promise<Map<string, string[]>> {
  const list = await w.client.request<Service[]>('GET', '/service');
  const out = new Map<string, string[]>();
  for (const s of list) {
    const f = s.spec?.flags;
    if (f?.namespace !== w.ns || !f.name) continue;
    const backends = (s.status?.realized?.['backend-addresses'] ?? []).map(
      (b) => `${b.ip}:${b.port}`,
    );
    const key = `${f.namespace}/${f.name}`;
    out.set(key, [...(out.get(key) ?? []), ...backends].sort());
  }
  return out;
}

function slice(ns: string, service: string, name: string, ips: readonly string[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
}

function service(ns: string, name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
}

for (const t of TARGETS) {
  const suite = t.skip ? describe.skip : describe;
  suite(`Kubernetes mode against ${t.name}${t.skip ? ` (skipped: ${t.skip})` : ''}`, () => {
    it('a pod gets its Kubernetes labels and identity and a CiliumEndpoint; a label change gives a new identity and policy', async () => {
      const w = await world();
      await w.pod('server', { app: 'server' });
      await w.pod('client', { app: 'client' });
      await restored(w.agent.socket);
      const server = await w.endpointFor('server');
      const client = await w.endpointFor('client');
      expect(server.status?.identity?.labels).toContain('k8s:app=server');
      expect(server.status?.identity?.labels).toContain(`k8s:io.kubernetes.pod.namespace=${w.ns}`);
      const clientId = client.status?.identity?.id ?? 0;
      expect(clientId).toBeGreaterThan(255);
      await cep(w, 'client', (c) => c.status?.identity?.id === clientId);

      // A NetworkPolicy admitting app=client to the server: the server enforces ingress and
      // admits the client's identity.
      await w.target.create({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'server-from-client', namespace: w.ns },
        spec: {
          podSelector: { matchLabels: { app: 'server' } },
          policyTypes: ['Ingress'],
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
        },
      });
      const policy = () =>
        eventually(async () => {
          const p = (await w.endpoint(server.id ?? 0)).status?.policy?.realized;
          expect(p?.['policy-enabled']).toBe('ingress');
          return p;
        });
      await eventually(async () => {
        expect((await policy())['allowed-ingress-identities']).toContain(clientId);
        return true;
      });

      // The client's pod relabelled: a new identity, in the endpoint and its CiliumEndpoint, and
      // the server's policy no longer admits it.
      await w.target.patch(
        { apiVersion: 'v1', kind: 'Pod', name: 'client', namespace: w.ns },
        { metadata: { labels: { app: 'intruder' } } },
      );
      const relabelled = await eventually(async () => {
        const ep = await w.endpoint(client.id ?? 0);
        expect(ep.status?.identity?.labels).toContain('k8s:app=intruder');
        return ep;
      });
      const newId = relabelled.status?.identity?.id ?? 0;
      expect(newId).not.toBe(clientId);
      await cep(w, 'client', (c) => c.status?.identity?.id === newId);
      await eventually(async () => {
        const allowed = (await policy())['allowed-ingress-identities'] ?? [];
        // The old identity still exists (its CiliumIdentity stays until the operator collects
        // it) and still selects as app=client; the pod's new one does not.
        expect(allowed).not.toContain(newId);
        return true;
      });

      // The endpoint deleted (the CNI's DEL): its CiliumEndpoint goes.
      await w.client.request('DELETE', `/endpoint/${client.id ?? 0}`);
      await eventually(
        async () =>
          (await w.target.read({
            apiVersion: 'cilium.io/v2',
            kind: 'CiliumEndpoint',
            name: 'client',
            namespace: w.ns,
          })) === undefined,
      );
    });

    it('a Service with an EndpointSlice is programmed; a slice change and the deletion follow', async () => {
      const w = await world();
      await restored(w.agent.socket);
      await w.target.create(service(w.ns, 'web'));
      await w.target.create(slice(w.ns, 'web', 'web-1', ['10.1.0.1', '10.1.0.2']));
      await eventually(async () => {
        expect((await k8sServices(w)).get(`${w.ns}/web`)).toEqual([
          '10.1.0.1:8080',
          '10.1.0.2:8080',
        ]);
        return true;
      });
      await w.target.patch(
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          name: 'web-1',
          namespace: w.ns,
        },
        { endpoints: [{ addresses: ['10.1.0.3'], conditions: { ready: true } }] },
      );
      await eventually(async () => {
        expect((await k8sServices(w)).get(`${w.ns}/web`)).toEqual(['10.1.0.3:8080']);
        return true;
      });
      await w.target.delete({ apiVersion: 'v1', kind: 'Service', name: 'web', namespace: w.ns });
      await eventually(async () => !(await k8sServices(w)).has(`${w.ns}/web`));
    });

    it('watches dropped mid-stream resume from the last version: nothing missed, nothing twice, no re-list', async (ctx) => {
      const w = await world();
      const api = w.target.requireDouble(ctx, 'dropping watches');
      await restored(w.agent.socket);
      await w.target.create(service(w.ns, 'svc-0'));
      await eventually(async () => (await k8sServices(w)).has(`${w.ns}/svc-0`));
      const lists = () =>
        api.requests.filter((r) => r.resource === 'services' && r.verb === 'list').length;
      const listsBefore = lists();
      for (let i = 1; i <= 12; i++) {
        // Changes land while the agent's watches are down (cut cleanly or abruptly).
        api.dropWatches({ abrupt: i % 2 === 0 });
        api.create('services', service(w.ns, `svc-${i}`));
        api.create('endpointslices', slice(w.ns, `svc-${i}`, `svc-${i}-a`, [`10.2.0.${i}`]));
        if (i > 3) api.delete('services', { name: `svc-${i - 3}`, namespace: w.ns });
        await api.waitForWatch('services');
      }
      const want = new Map<string, string[]>([[`${w.ns}/svc-0`, []]]);
      for (let i = 10; i <= 12; i++) want.set(`${w.ns}/svc-${i}`, [`10.2.0.${i}:8080`]);
      await eventually(async () => {
        expect(await k8sServices(w)).toEqual(want);
        return true;
      });
      expect(lists()).toBe(listsBefore);
      // Each watch after a drop started from a version at least the previous one's.
      const versions = api.requests
        .filter((r) => r.resource === 'services' && r.verb === 'watch')
        .map((r) => Number(new URLSearchParams(r.query).get('resourceVersion')));
      expect(versions.length).toBeGreaterThanOrEqual(13);
      for (let i = 1; i < versions.length; i++) {
        expect(versions[i]).toBeGreaterThanOrEqual(versions[i - 1] ?? 0);
      }
    });

    it('with the API server unreachable at start the agent waits, says so, and proceeds when it returns', async (ctx) => {
      const w = await world({ paused: true });
      const api = w.target.requireDouble(ctx, 'making the API server unreachable');
      const k8sState = async () =>
        (await w.client.request<Model<'StatusResponse'>>('GET', '/healthz')).kubernetes;
      await eventually(async () => {
        const s = await k8sState();
        expect(s?.state).not.toBe('Ok');
        expect(s?.msg).toContain('waiting for the API server');
        return true;
      });
      const healthz = await w.client.request<Model<'StatusResponse'>>('GET', '/healthz');
      expect(healthz.cilium?.msg).toMatch(/^(starting|not ready)/);
      await api.resume();
      await w.pod('late', { app: 'late' });
      await eventually(async () => (await k8sState())?.state === 'Ok');
      await restored(w.agent.socket);
      const ep = await w.endpointFor('late');
      expect(ep.status?.identity?.labels).toContain('k8s:app=late');
    });
  });
}
