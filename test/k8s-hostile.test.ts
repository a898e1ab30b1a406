// Hostile input from Kubernetes, and a misbehaving API server, against a whole agent (in-memory
// maps) joined to the API server double: the agent keeps running, skips each bad object naming it
// in health, keeps the good objects and what it had stored, and does not spin.
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiClient, ApiClientError } from '../core/api/index.js';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer } from './support/apiserver.js';
import { restored, startAgent, tempDir } from './support/procs.js';

const NS = 'shop';

async function world() {
  const api = await startApiServer({ bookmarkIntervalMs: 200 });
  onTestFinished(() => api.stop());
  const node = `k8s-hostile-${randomBytes(3).toString('hex')}`;
  const cidr = `10.${randomInt(160, 200)}.${randomInt(0, 256)}.0/24`;
  api.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const agent = await startAgent({
    dir: tempDir(),
    args: [
      '--bpf-backend=memory',
      `--ipv4-range=${cidr}`,
      `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
      `--node-name=${node}`,
    ],
  });
  const client = new ApiClient(agent.socket);
  onTestFinished(() => client.close());
  await restored(agent.socket);
  const base = cidr.split('.').slice(0, 3).join('.');
  let n = 0;
  return {
    api,
    agent,
    client,
    node,
    /** The agent's overall status message (it names every degraded cell and why). */
    health: async () =>
      (await client.request<{ cilium: { msg?: string } }>('GET', '/healthz')).cilium.msg ?? '',
    /** The endpoint PUT cellium-cni sends for a pod. */
    put: (pod: string) => {
      n += 1;
      return client.request<{ id: number }>('PUT', '/endpoint/cilium-local:0', {
        body: {
          addressing: { ipv4: `${base}.${10 + n}` },
          'container-id': `ctr-${pod}-${n}`,
          mac: `02:00:00:00:03:${(16 + n).toString(16)}`,
          'host-mac': '02:00:00:00:03:ff',
          'k8s-namespace': NS,
          'k8s-pod-name': pod,
          state: 'waiting-for-identity',
          'sync-build-endpoint': true,
          'datapath-configuration': {},
        },
      });
    },
    /** The names of the Kubernetes services the load balancer has. */
    services: async () =>
      (await client.request<{ spec: { flags?: { name?: string } } }[]>('GET', '/service')).map(
        (s) => s.spec.flags?.name,
      ),
  };
}

const service = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: NS },
  spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
});

function slice(name: string, svc: string, endpoints: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: endpoints }, (_, i) => ({
      addresses: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
      conditions: { ready: true },
    })),
  };
}

describe('a Kubernetes-mode agent fed hostile objects', () => {
  it('skips each by name, keeps the good ones, and answers the CNI for a pod with 10,000 labels', async () => {
    const w = await world();
    w.api.create('services', service('good'));
    w.api.create('endpointslices', slice('good-1', 'good', 2));
    w.api.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'many',
        namespace: NS,
        labels: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`l${i}`, 'v'])),
      },
      spec: { nodeName: w.node, containers: [{ name: 'c', image: 'registry.invalid/c' }] },
    });
    // What kube-apiserver would refuse, as a broken or hostile source sends it.
    w.api.injectRaw('services', { ...service('s\u0000x'), spec: { ports: [{ port: 80 }] } });
    w.api.create('services', service('huge'));
    w.api.injectRaw('endpointslices', slice('huge-1', 'huge', 100_000));
    w.api.injectRaw('services', { ...service('nulled'), spec: null });
    // Another node claiming every address as its pod CIDR, and one at the loopback address.
    const node = (name: string, address: string, podCIDRs: string[]) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
      spec: { podCIDRs },
      status: { addresses: [{ type: 'InternalIP', address }] },
    });
    w.api.create('nodes', node('evil-all', '192.168.77.6', ['0.0.0.0/0']));
    w.api.create('nodes', node('evil-local', '127.0.0.1', ['10.250.1.0/24']));

    await eventually(async () => {
      const h = await w.health();
      return (
        h.includes('metadata.name is not a valid name') &&
        h.includes('endpoints has 100000 entries, more than 1000') &&
        h.includes('spec is missing') &&
        h.includes("node evil-all: spec.podCIDRs.0: '0.0.0.0/0' is every address") &&
        h.includes('node evil-local: skipped: status.addresses: no InternalIP or ExternalIP')
      );
    }, 60_000);
    await eventually(async () => (await w.services()).includes('good'), 60_000);
    expect(await w.services()).not.toContain('s\u0000x');
    const ipcache = await w.client.request<{ cidr: string }[]>('GET', '/ip');
    expect(ipcache.map((e) => e.cidr)).not.toContain('0.0.0.0/0');
    expect(ipcache.map((e) => e.cidr)).not.toContain('10.250.1.0/24');

    // The pod's CNI PUT is answered; the pod is skipped (init identity) and named.
    await w.put('many');
    await eventually(
      async () =>
        (await w.health()).includes(
          `${NS}/many: 10004 identity labels (pod and namespace labels), more than 1024`,
        ),
      60_000,
    );
    expect(w.agent.proc.exitCode).toBe(null);
  });

  it("refuses the REST API's deletion of a Kubernetes policy's rules, which stay", async () => {
    const w = await world();
    w.api.create('networkpolicies', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: NS },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
    const derived = ['k8s:io.cilium.k8s.policy.name=deny'];
    await eventually(() =>
      w.client.request('GET', '/policy', { body: derived }).then(
        () => true,
        () => false,
      ),
    );
    const err = await w.client.request('DELETE', '/policy', { body: derived }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiClientError);
    expect((err as ApiClientError).status).toBe(403);
    expect((err as Error).message).toContain('NetworkPolicy/shop/deny');
    await w.client.request('DELETE', '/policy');
    const left = await w.client.request<{ policy: string }>('GET', '/policy', { body: derived });
    expect(left.policy).toContain('"deny"');
  });

  it('backs off, and says so, when the API server answers 410 to every watch', async () => {
    const w = await world();
    w.api.create('services', service('good'));
    await eventually(async () => (await w.services()).includes('good'), 60_000);
    const stop = w.api.failRequests({ code: 410, match: (r) => r.verb === 'watch' });
    onTestFinished(stop);
    w.api.dropWatches();
    await eventually(
      async () => /watch answered "too old" \d+ times in a row/.test(await w.health()),
      60_000,
    );
    // Lists went on (the tables stay current), the service stayed.
    expect(await w.services()).toContain('good');
    stop();
    w.api.create('services', service('after'));
    await eventually(async () => (await w.services()).includes('after'), 60_000);
    expect(w.agent.proc.exitCode).toBe(null);
  });
});
