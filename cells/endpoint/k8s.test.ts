// The endpoint cell in Kubernetes mode, on the in-memory reflected tables (resources.memory.ts)
// and an in-memory CiliumEndpoint store (k8s-cep.memory.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { HealthTree, provide } from '../../core/hive/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { IdentityAllocator } from '../identity/index.js';
import { DatapathMaps, endpointKeyOf, ipcacheKeyOf } from '../maps/index.js';
import {
  K8sAccess,
  K8sClient,
  K8sDisabledError,
  K8sResources,
  type CiliumIdentityObject,
  type K8sAccessRule,
  type Namespace,
  type Node,
  type Pod,
} from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { StateDB } from '../statedb/index.js';
import { CepApi } from './cell.js';
import { call, epHive, request, type EpHive } from './fixtures.js';
import { EndpointManager } from './index.js';
import { MemoryCepApi } from './k8s-cep.memory.js';

const NODE_IP = '192.168.7.10';

function pod(name: string, labels: Record<string, string>, uid = `uid-${name}`): Pod {
  return {
    metadata: { name, namespace: 'shop', uid, labels },
    spec: {
      nodeName: 'node-a',
      serviceAccountName: 'web-sa',
      containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  };
}
const namespace = (labels: Record<string, string> = {}): Namespace => ({
  metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop', ...labels } },
});
const node = (ip: string): Node => ({
  metadata: { name: 'node-a' },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});

/** The Kubernetes cell's parts as a cell test has them; `rules` what the cell declared. */
function k8sDoubles(cep: MemoryCepApi, enabled = true) {
  const rules: K8sAccessRule[] = [];
  let resources: MemoryK8sResources | undefined;
  const client: K8sClient = {
    enabled,
    ready: () => Promise.resolve(),
    connected$: of(true),
    core: () => {
      throw new K8sDisabledError();
    },
    discovery: () => {
      throw new K8sDisabledError();
    },
    networking: () => {
      throw new K8sDisabledError();
    },
    // The CiliumIdentity calls of the identity cell (crd mode, as in Kubernetes mode without a
    // kvstore), answered as the API server and its reflector would: into the memory table.
    custom: () => identityApi(),
    apiextensions: () => {
      throw new K8sDisabledError();
    },
    callOptions: () => ({}),
  };
  const identityApi = (): CustomObjectsApi => {
    const r = resources;
    if (!r) throw new Error('hive not built');
    const t = r.tables.ciliumIdentities;
    const status = (code: number): Error => Object.assign(new Error(`HTTP ${code}`), { code });
    return {
      createClusterCustomObject: ({ body }: { body: CiliumIdentityObject }) => {
        if (t.get(t.db.readTxn(), body.metadata.name)) return Promise.reject(status(409));
        r.upsert('ciliumIdentities', body);
        return Promise.resolve(body);
      },
      getClusterCustomObject: ({ name }: { name: string }) => {
        const o = t.get(t.db.readTxn(), name);
        return o ? Promise.resolve(o) : Promise.reject(status(404));
      },
    } as unknown as CustomObjectsApi;
  };
  const overrides = [
    provide(K8sResources, { db: StateDB }, ({ db }) => {
      resources = newMemoryK8sResources(db, enabled);
      return resources;
    }),
    provide(K8sClient, {}, () => client),
    provide(K8sAccess, {}, () => ({
      declare: (r: K8sAccessRule) => void rules.push(r),
      rules: () => rules,
      check: () => undefined,
    })),
    provide(CepApi, {}, () => cep),
  ];
  return {
    overrides,
    rules,
    get resources(): MemoryK8sResources {
      if (!resources) throw new Error('hive not built');
      return resources;
    },
  };
}

function k8sHive(dir: string, cep = new MemoryCepApi(), enabled = true) {
  const k = k8sDoubles(cep, enabled);
  const h = epHive(dir, {
    flags: { 'cluster-name': 'c1', 'node-name': 'node-a' },
    overrides: k.overrides,
  });
  h.get(EndpointManager); // builds the graph: the tables exist
  return Object.assign(h, { k8s: k.resources, rules: k.rules, cep });
}

const newDir = () => mkdtempSync(join(tmpdir(), 'cellium-ep-k8s-'));

async function put(h: EpHive, n: number, podName: string) {
  const r = await call(h, 'PUT', '/endpoint/0', {
    ...request(n, { 'k8s-namespace': 'shop', 'k8s-pod-name': podName, labels: [] }),
  });
  expect(r.status).toBe(201);
  return r.body as unknown as {
    id: number;
    status: { identity: { id: number; labels: string[] }; namedPorts: unknown[] };
  };
}

const WEB = [
  'k8s:app=web',
  'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop',
  'k8s:io.cilium.k8s.policy.cluster=c1',
  'k8s:io.cilium.k8s.policy.serviceaccount=web-sa',
  'k8s:io.kubernetes.pod.namespace=shop',
];

describe('endpoint cell, Kubernetes mode', () => {
  it("gives a pod's endpoint its Kubernetes labels and identity, and writes its CiliumEndpoint", async () => {
    const h = k8sHive(newDir());
    h.k8s.upsert('namespaces', namespace());
    h.k8s.upsert('pods', pod('web-0', { app: 'web', 'pod-template-hash': '5d9f' }));
    h.k8s.upsert('nodes', node(NODE_IP));
    h.k8s.setSynced();
    await h.requireStart();
    const ep = await put(h, 1, 'web-0');
    expect(ep.status.identity.labels).toEqual(WEB);
    expect(ep.status.namedPorts).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const m = h.get(EndpointManager);
    expect(m.find({ kind: 'cilium-local', id: ep.id })?.k8sUid).toBe('uid-web-0');
    const cep = await eventually(() => {
      const o = h.cep.objects.get('shop/web-0');
      return o?.status?.state === 'ready' ? o : undefined;
    });
    expect(cep.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: 'uid-web-0' },
    ]);
    expect(cep.status).toMatchObject({
      id: ep.id,
      identity: { id: ep.status.identity.id, labels: WEB },
      networking: { addressing: [{ ipv4: '10.9.0.11' }], node: NODE_IP },
      'named-ports': [{ name: 'http', port: 8080, protocol: 'TCP' }],
      encryption: {},
    });
    // A PATCH from a client does not take what the pod gave the endpoint.
    const patched = await call(h, 'PATCH', `/endpoint/${ep.id}`, {
      'host-mac': '02:00:00:00:00:fe',
      state: 'waiting-for-identity',
    });
    expect(patched.status).toBe(200);
    const after = m.find({ kind: 'cilium-local', id: ep.id });
    expect(after).toMatchObject({ identity: ep.status.identity.id, hostMac: '02:00:00:00:00:fe' });
    expect(after?.k8sLabels).toEqual(WEB);
    expect(after?.log.map((l) => l.message)).not.toContain(
      'Regenerating endpoint: its pod labels changed',
    );
    expect(h.rules.filter((r) => r.why.startsWith('endpoint:'))).toEqual([
      expect.objectContaining({
        group: 'cilium.io',
        resource: 'ciliumendpoints',
        verbs: ['get', 'list', 'create', 'update', 'delete'],
      }),
    ]);
  });

  it('follows label changes of the pod and its namespace with a new identity, in place', async () => {
    const h = k8sHive(newDir());
    h.k8s.upsert('namespaces', namespace());
    h.k8s.upsert('pods', pod('web-0', { app: 'web' }));
    h.k8s.setSynced();
    await h.requireStart();
    const ep = await put(h, 1, 'web-0');
    const first = ep.status.identity.id;
    const ids = h.get(IdentityAllocator);
    const maps = h.get(DatapathMaps);
    const m = h.get(EndpointManager);
    const now = () => m.find({ kind: 'cilium-local', id: ep.id });

    h.k8s.upsert('pods', pod('web-0', { app: 'web', tier: 'front' }));
    const second = await eventually(() => {
      const e = now();
      return e && e.identity !== first && e.state === 'ready' ? e.identity : undefined;
    });
    expect(ids.get(second)?.labels).toContain('k8s:tier=front');
    expect(ids.refCount(first)).toBe(0);
    // The datapath was regenerated in place: the same lxc entry, the new identity.
    expect(maps.lxc.lookup(endpointKeyOf('10.9.0.11'))).toMatchObject({
      lxc_id: ep.id,
      sec_id: second,
    });
    await eventually(() => maps.ipcache.lookup(ipcacheKeyOf('10.9.0.11'))?.sec_identity === second);
    expect(now()?.log.map((l) => l.message)).toContain(
      'Regenerating endpoint: its pod labels changed',
    );

    h.k8s.upsert('namespaces', namespace({ team: 'blue' }));
    const third = await eventually(() => {
      const e = now();
      return e && e.identity !== second ? e.identity : undefined;
    });
    expect(ids.get(third)?.labels).toContain('k8s:io.cilium.k8s.namespace.labels.team=blue');

    // A pod deleted from the API server leaves its endpoint alone (the CNI DEL removes it).
    h.k8s.remove('pods', pod('web-0', {}));
    h.k8s.upsert('pods', pod('other', { app: 'x' }));
    await eventually(() => h.k8s.pods.table.get(h.get(StateDB).readTxn(), 'shop/other'));
    expect(now()?.identity).toBe(third);
  });

  it('gives the init identity while the pod is not known, its labels once it is; a malformed pod is skipped and named', async () => {
    const h = k8sHive(newDir());
    h.k8s.upsert('namespaces', namespace());
    h.k8s.upsert('pods', pod('bad', { app: 'x'.repeat(80) }));
    h.k8s.setSynced();
    await h.requireStart();
    const ep = await put(h, 1, 'late');
    expect(ep.status.identity).toMatchObject({ id: 5, labels: ['reserved:init'] });
    h.k8s.upsert('pods', pod('late', { app: 'web' }));
    const m = h.get(EndpointManager);
    await eventually(() => m.find({ kind: 'cilium-local', id: ep.id })?.identity !== 5);
    expect(
      h.get(IdentityAllocator).get(m.find({ kind: 'cilium-local', id: ep.id })!.identity)?.labels,
    ).toEqual(WEB);

    const bad = await put(h, 2, 'bad');
    expect(bad.status.identity.labels).toEqual(['reserved:init']);
    const health = () => JSON.stringify(h.get(HealthTree).all());
    expect(health()).toContain('shop/bad');
    expect(health()).toContain("label app's value");
    // Fixed in the API server: the endpoint takes the labels, health is ok again.
    h.k8s.upsert('pods', pod('bad', { app: 'fixed' }));
    await eventually(() => m.find({ kind: 'cilium-local', id: bad.id })?.identity !== 5);
    await eventually(() => !health().includes('shop/bad'));
    // A pod that turns malformed later changes nothing: the endpoint keeps its labels.
    const kept = m.find({ kind: 'cilium-local', id: bad.id })!.identity;
    h.k8s.upsert('pods', pod('bad', { 'bad key!': 'x' }));
    await eventually(() => health().includes('bad key!'));
    expect(m.find({ kind: 'cilium-local', id: bad.id })?.identity).toBe(kept);
  });

  it('retries CiliumEndpoint writes with backoff, shows failures in health, and deletes it with the endpoint', async () => {
    const h = k8sHive(newDir());
    h.k8s.upsert('namespaces', namespace());
    h.k8s.upsert('pods', pod('web-0', { app: 'web' }));
    h.k8s.upsert('nodes', node(NODE_IP));
    h.k8s.setSynced();
    h.cep.failWith = 500;
    await h.requireStart();
    const ep = await put(h, 1, 'web-0');
    const health = () => JSON.stringify(h.get(HealthTree).all());
    await eventually(() => health().includes('HTTP') || health().includes('injected'));
    expect(h.cep.objects.size).toBe(0);
    h.cep.failWith = undefined;
    await eventually(() => h.cep.objects.get('shop/web-0')?.status?.id === ep.id);
    expect((await call(h, 'DELETE', `/endpoint/${ep.id}`)).status).toBe(200);
    await eventually(() => !h.cep.objects.has('shop/web-0'));
  });

  it('waits for the caches before restoring, refreshes restored labels, adopts and prunes CiliumEndpoints', async () => {
    const dir = newDir();
    const cep = new MemoryCepApi();
    const first = k8sHive(dir, cep);
    first.k8s.upsert('namespaces', namespace());
    first.k8s.upsert('pods', pod('web-0', { app: 'web' }));
    first.k8s.upsert('nodes', node(NODE_IP));
    first.k8s.setSynced();
    await first.requireStart();
    const ep = await put(first, 1, 'web-0');
    await eventually(() => cep.objects.get('shop/web-0')?.status?.state === 'ready');
    await first.requireStop();
    // A stale object of this node (its endpoint gone) and one of another node.
    const stale = structuredClone(cep.objects.get('shop/web-0')!);
    stale.metadata.name = 'gone';
    cep.objects.set('shop/gone', stale);
    const other = structuredClone(stale);
    other.metadata.name = 'elsewhere';
    other.status = { ...other.status!, networking: { addressing: [], node: '192.168.7.99' } };
    cep.objects.set('shop/elsewhere', other);

    const second = k8sHive(dir, cep);
    second.k8s.upsert('namespaces', namespace());
    second.k8s.upsert('pods', pod('web-0', { app: 'web', tier: 'front' }));
    second.k8s.upsert('nodes', node(NODE_IP));
    await second.requireStart();
    const m = second.get(EndpointManager);
    const healthz = async () =>
      ((await call(second, 'GET', '/healthz')).body as { cilium: { msg: string } }).cilium.msg;
    expect(await healthz()).toContain(
      'waiting for the Kubernetes caches (pods, namespaces) before restoring endpoints',
    );
    expect(m.list()).toEqual([]);
    second.k8s.setSynced('pods');
    expect(m.restoring()?.waiting).toBe('Kubernetes caches (pods, namespaces)');
    second.k8s.setSynced();
    const relabelled = await eventually(() => {
      const e = m.find({ kind: 'cilium-local', id: ep.id });
      return e?.k8sLabels?.includes('k8s:tier=front') && e.state === 'ready' ? e : undefined;
    });
    await eventually(
      () =>
        cep.objects.get('shop/web-0')?.status?.identity.id === relabelled.identity &&
        !cep.objects.has('shop/gone'),
    );
    expect(cep.objects.has('shop/elsewhere')).toBe(true);
    // Adopted: written over the existing object, never created again.
    expect(cep.calls.filter((c) => c === 'create shop/web-0')).toHaveLength(1);
  });

  it('leaves embedded mode as it was, but still declares its access rule', async () => {
    const h = k8sHive(newDir(), new MemoryCepApi(), false);
    await h.requireStart();
    const ep = await put(h, 1, 'web-0');
    expect(ep.status.identity.labels).toEqual(['k8s:io.kubernetes.pod.namespace=shop']);
    // The endpoint cell's own rule (the identity and node cells declare theirs too).
    expect(h.rules.filter((r) => r.why.startsWith('endpoint:')).map((r) => r.resource)).toEqual([
      'ciliumendpoints',
    ]);
    expect(h.cep.calls).toEqual([]);
  });
});
