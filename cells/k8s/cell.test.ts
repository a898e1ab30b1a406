import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { HealthTree, invoke, type HealthStatus } from '../../core/hive/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { startApiServer, type ApiServerDouble } from '../../test/support/apiserver.js';
import { VERSION } from '../../test/support/apiserver/discovery.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { statedbCell } from '../statedb/index.js';
import { requestAttributes } from './access.js';
import { CRD_SCHEMA_VERSION_LABEL, crdManifests } from './crds.js';
import {
  K8sAccess,
  K8sAccessError,
  k8sCell,
  K8sClient,
  K8sDisabledError,
  K8sResources,
  objectKey,
  type K8sObject,
} from './index.js';

const versionMsg = `${VERSION.major}.${VERSION.minor} (${VERSION.gitVersion}) [${VERSION.platform}]`;

function hive(flags: Record<string, unknown>, extra: Parameters<typeof testHive>[0] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-k8s-'));
  return testHive([apiCell, statedbCell, daemonCell, k8sCell, ...extra], {
    flags: {
      'node-name': 'node1',
      'socket-path': join(dir, 'api.sock'),
      'state-dir': join(dir, 'state'),
      'k8s-watch-backoff-max': '200ms',
      ...flags,
    },
  });
}

type H = ReturnType<typeof hive>;

async function healthz(h: H): Promise<Record<string, unknown>> {
  const res = await h.get(ApiServer).app.request('/v1/healthz');
  return (await res.json()) as Record<string, unknown>;
}

function health(h: H, suffix: string): HealthStatus | undefined {
  return h
    .get(HealthTree)
    .all()
    .find((s) => s.id.endsWith(suffix));
}

const keys = <T extends K8sObject>(
  h: H,
  r: { table: { all(t: unknown): Iterable<T> } },
): string[] => [...r.table.all(h.get(K8sResources).pods.table.db.readTxn())].map(objectKey);

function pod(name: string, node: string, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] },
  };
}

describe('k8s cell, embedded mode', () => {
  it('without a kubeconfig, API server or service account: disabled, tables empty and never synced', async () => {
    const h = await hive({}).requireStart();
    const client = h.get(K8sClient);
    const res = h.get(K8sResources);
    expect(client.enabled).toBe(false);
    expect(res.enabled).toBe(false);
    expect(() => client.core()).toThrow(K8sDisabledError);
    await expect(client.ready()).rejects.toBeInstanceOf(K8sDisabledError);
    expect(res.pods.synced()).toBe(false);
    expect(res.pods.table.count(res.pods.table.db.readTxn())).toBe(0);
    expect((await healthz(h)).kubernetes).toEqual({
      state: 'Disabled',
      msg: 'Disabled (embedded mode)',
      'k8s-api-versions': [],
    });
    // The rules are declared whatever the mode: the chart's ClusterRole comes from them.
    const rules = h.get(K8sAccess).rules();
    expect(rules.find((r) => r.resource === 'pods')?.verbs).toEqual(['list', 'watch']);
    expect(rules.find((r) => r.resource === 'customresourcedefinitions')?.verbs).toEqual([
      'get',
      'create',
      'update',
    ]);
  });

  it('--enable-k8s=false stays embedded even with a kubeconfig; a missing kubeconfig stops the agent by flag name', async () => {
    const h = await hive({
      'enable-k8s': false,
      'k8s-kubeconfig-path': '/nonexistent',
    }).requireStart();
    expect(h.get(K8sClient).enabled).toBe(false);
    await expect(async () => {
      const bad = hive({ 'k8s-kubeconfig-path': '/nonexistent/kubeconfig' });
      bad.get(K8sClient);
      await bad.requireStart();
    }).rejects.toThrow(/--k8s-kubeconfig-path: \/nonexistent\/kubeconfig: no such file/);
  });
});

describe('k8s cell against the API server double', () => {
  let api: ApiServerDouble;
  beforeAll(async () => {
    api = await startApiServer({ bookmarkIntervalMs: 0 });
  });
  afterAll(async () => {
    await api.stop();
  });

  it('connects, registers the CRDs, reflects this node’s pods and the cluster’s objects, follows changes', async () => {
    api.create('pods', pod('mine', 'node1', { app: 'web' }));
    api.create('pods', pod('theirs', 'node2'));
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    const client = h.get(K8sClient);
    const res = h.get(K8sResources);
    expect(client.enabled && res.enabled).toBe(true);
    await client.ready();
    await Promise.all(
      [
        res.pods,
        res.namespaces,
        res.nodes,
        res.services,
        res.endpointSlices,
        res.networkPolicies,
        res.ciliumNetworkPolicies,
        res.ciliumClusterwideNetworkPolicies,
        res.ciliumIdentities,
      ].map((r) => r.waitSynced()),
    );
    // Only this node's pods (field selector), the seeded namespaces and Service.
    expect(keys(h, res.pods)).toEqual(['default/mine']);
    expect(keys(h, res.namespaces)).toContain('kube-system');
    expect(keys(h, res.services)).toContain('default/kubernetes');
    // Every CRD registered with its schema version, established.
    for (const m of crdManifests()) {
      const stored = api.get<{ metadata: { labels?: Record<string, string> } }>(
        'customresourcedefinitions',
        {
          name: m.metadata.name,
        },
      );
      expect(stored?.metadata.labels?.[CRD_SCHEMA_VERSION_LABEL]).toBe(
        m.metadata.labels?.[CRD_SCHEMA_VERSION_LABEL],
      );
    }
    // /healthz kubernetes as Cilium's K8sStatus.
    const k = (await healthz(h)).kubernetes as Record<string, unknown>;
    expect(k.state).toBe('Ok');
    expect(k.msg).toBe(versionMsg);
    expect(k['k8s-api-versions']).toContain('core/v1::Pods');
    expect(health(h, 'k8s.pods')).toMatchObject({ level: 'ok', message: 'synced, 1 objects' });
    // Changes follow: a new pod, a label change, a deletion, a policy (CRD-backed).
    api.create('pods', pod('second', 'node1'));
    api.patch(
      'pods',
      { name: 'mine', namespace: 'default' },
      { metadata: { labels: { app: 'db' } } },
    );
    api.create('ciliumnetworkpolicies', {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'p1', namespace: 'default' },
      spec: { endpointSelector: {} },
    });
    const txn = () => res.pods.table.db.readTxn();
    await eventually(
      () => res.pods.table.get(txn(), 'default/mine')?.metadata.labels?.app === 'db',
    );
    await eventually(() => res.pods.table.get(txn(), 'default/second'));
    await eventually(() => res.ciliumNetworkPolicies.table.get(txn(), 'default/p1'));
    api.delete('pods', { name: 'second', namespace: 'default' });
    await eventually(() => res.pods.table.get(txn(), 'default/second') === undefined);
    // Every request the agent made is one its rules cover, mapped as the API server maps it.
    const access = h.get(K8sAccess);
    for (const r of api.requests.filter((q) => q.userAgent !== '' && q.verb !== 'discovery')) {
      const a = requestAttributes(r.method, `${r.path}?${new URLSearchParams(r.query).toString()}`);
      expect(a).toMatchObject({ kind: 'resource', verb: r.verb, group: r.group });
      if (a.kind === 'resource') {
        const verb = a.verb;
        expect(verb).not.toBe('deletecollection');
        if (verb !== 'deletecollection')
          expect(() => access.check(a.group, a.resource, verb)).not.toThrow();
      }
    }
    await h.requireStop();
  });

  it('refuses a request no declared rule covers before it reaches the API server; a declared one passes', async () => {
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }, [
      invoke('test-access', { access: K8sAccess }, ({ access }) => {
        access.declare({
          group: '',
          resource: 'configmaps',
          verbs: ['get'],
          why: 'test: read a config map',
        });
      }),
    ]).requireStart();
    const client = h.get(K8sClient);
    await client.ready();
    const before = api.requests.filter((r) => r.resource === 'secrets').length;
    await expect(
      client.core().listNamespacedSecret({ namespace: 'default' }),
    ).rejects.toBeInstanceOf(K8sAccessError);
    await expect(
      client.core().deleteNamespacedConfigMap({ name: 'x', namespace: 'default' }),
    ).rejects.toThrow(/no declared K8sAccessRule allows 'delete' on configmaps/);
    expect(api.requests.filter((r) => r.resource === 'secrets')).toHaveLength(before);
    // Allowed: the API server answers (404: there is no such config map).
    await expect(
      client.core().readNamespacedConfigMap({ name: 'none', namespace: 'default' }),
    ).rejects.toMatchObject({
      code: 404,
    });
    const rules = h.get(K8sAccess).rules();
    expect(rules.map((r) => `${r.group}/${r.resource}`)).toEqual(
      [...rules.map((r) => `${r.group}/${r.resource}`)].sort((a, b) => a.localeCompare(b)),
    );
    expect(rules.find((r) => r.resource === 'configmaps')).toEqual({
      group: '',
      resource: 'configmaps',
      verbs: ['get'],
      why: 'test: read a config map',
    });
  });

  it('resumes a dropped watch from the last version (no re-list) and lists again after 410 Gone', async () => {
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    const res = h.get(K8sResources);
    await res.pods.waitSynced();
    const txn = () => res.pods.table.db.readTxn();
    const podLists = () =>
      api.requests.filter((r) => r.resource === 'pods' && r.verb === 'list' && r.userAgent !== '')
        .length;
    await api.waitForWatch('pods');
    const lists = podLists();
    // Cut mid-stream, change things while the agent is away.
    api.dropWatches({ abrupt: true });
    api.create('pods', pod('while-away', 'node1'));
    await eventually(() => res.pods.table.get(txn(), 'default/while-away'));
    expect(podLists()).toBe(lists);
    // History gone: the watch from the old version gets 410, the agent lists and replaces.
    await api.waitForWatch('pods');
    api.dropWatches();
    api.delete('pods', { name: 'while-away', namespace: 'default' });
    api.create('pods', pod('after-compact', 'node1'));
    api.compact();
    await eventually(() => res.pods.table.get(txn(), 'default/after-compact'));
    await eventually(() => res.pods.table.get(txn(), 'default/while-away') === undefined);
    expect(podLists()).toBeGreaterThan(lists);
  });

  it('says Failure while a connected API server is away, Ok again when it is back (connected$ follows)', async () => {
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    const client = h.get(K8sClient);
    await client.ready();
    await h.get(K8sResources).pods.waitSynced();
    const seen: boolean[] = [];
    const sub = client.connected$.subscribe((c) => seen.push(c));
    onTestFinished(() => sub.unsubscribe());
    const state = async () => (await healthz(h)).kubernetes as { state: string; msg: string };
    await api.pause();
    try {
      const down = await eventually(async () => {
        const s = await state();
        return s.state === 'Failure' ? s : undefined;
      });
      expect(down.msg).toMatch(
        new RegExp(`^${versionMsg.replace(/[.()[\]/]/g, '\\$&')}: .*ECONN(REFUSED|RESET)`),
      );
    } finally {
      await api.resume();
    }
    await eventually(async () => (await state()).state === 'Ok');
    expect(seen[0]).toBe(true);
    expect(seen).toContain(false);
    expect(seen.at(-1)).toBe(true);
  });

  it('skips an invalid object from the API server with a health note naming it, keeping the rest', async () => {
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    const res = h.get(K8sResources);
    await res.namespaces.waitSynced();
    api.create('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'bad', labels: { tier: 5 } },
    });
    api.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'good' } });
    const txn = () => res.namespaces.table.db.readTxn();
    await eventually(() => res.namespaces.table.get(txn(), 'good'));
    expect(res.namespaces.table.get(txn(), 'bad')).toBeUndefined();
    expect(res.namespaces.table.get(txn(), 'default')).toBeDefined();
    expect(health(h, 'k8s.namespaces')?.level).toBe('degraded');
    expect(health(h, 'k8s.namespaces')?.message).toContain(
      'bad: metadata.labels is not a map of strings',
    );
    api.delete('namespaces', { name: 'bad' });
  });

  it('skips an object of another kind on a watch (a broken API server), naming it', async () => {
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    const res = h.get(K8sResources);
    await res.services.waitSynced();
    await api.waitForWatch('services');
    api.writeRawToWatches(
      'services',
      JSON.stringify({
        type: 'ADDED',
        object: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'a-pod', namespace: 'default', resourceVersion: '1' },
          spec: { containers: [{ name: 'c' }] },
        },
      }),
    );
    await eventually(() =>
      health(h, 'k8s.services')?.message.includes('default/a-pod: kind "Pod" is not Service'),
    );
    expect(
      res.services.table.get(res.services.table.db.readTxn(), 'default/a-pod'),
    ).toBeUndefined();
  });

  it('a garbled watch line ends the stream; the watch resumes from the last event and misses nothing', async () => {
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    const res = h.get(K8sResources);
    await res.pods.waitSynced();
    const w = await api.waitForWatch('pods');
    const lists = api.requests.filter((r) => r.resource === 'pods' && r.verb === 'list').length;
    expect(
      api.writeRawToWatches('pods', '{"type":"ADDED","object":{"metadata":{"na'),
    ).toBeGreaterThan(0);
    api.create('pods', pod('after-garbage', 'node1'));
    const txn = () => res.pods.table.db.readTxn();
    await eventually(() => res.pods.table.get(txn(), 'default/after-garbage'));
    const rewatch = await api.waitForWatch('pods', (o) => o !== w);
    // Resumed from where it was (the same version), not listed again.
    expect(rewatch.query.resourceVersion).toBe(w.query.resourceVersion);
    expect(api.requests.filter((r) => r.resource === 'pods' && r.verb === 'list')).toHaveLength(
      lists,
    );
  });
});

describe('k8s cell: CRD registration', () => {
  it('updates a CRD stored with an older schema version, leaves a newer one alone', async () => {
    const api = await startApiServer({ bookmarkIntervalMs: 0 });
    onTestFinished(() => api.stop());
    const byName = new Map(crdManifests().map((m) => [m.metadata.name, m]));
    const withVersion = (name: string, v: string) => {
      const m = byName.get(name)!;
      return { ...m, metadata: { name, labels: { [CRD_SCHEMA_VERSION_LABEL]: v } } };
    };
    api.create('customresourcedefinitions', withVersion('ciliumnodes.cilium.io', '0.9.0'));
    api.create('customresourcedefinitions', withVersion('ciliumidentities.cilium.io', '99.0.0'));
    const h = await hive({ 'k8s-kubeconfig-path': api.kubeconfigPath }).requireStart();
    await h.get(K8sResources).ciliumIdentities.waitSynced();
    const label = (name: string) =>
      api.get<{ metadata: { labels?: Record<string, string> } }>('customresourcedefinitions', {
        name,
      })?.metadata.labels?.[CRD_SCHEMA_VERSION_LABEL];
    expect(label('ciliumnodes.cilium.io')).toBe(
      byName.get('ciliumnodes.cilium.io')?.metadata.labels?.[CRD_SCHEMA_VERSION_LABEL],
    );
    expect(label('ciliumidentities.cilium.io')).toBe('99.0.0');
    const puts = api.requests.filter(
      (r) => r.resource === 'customresourcedefinitions' && r.verb === 'update',
    );
    expect(puts.map((r) => r.name)).toEqual(['ciliumnodes.cilium.io']);
    expect(health(h, 'k8s.crds')).toMatchObject({ level: 'ok' });
  });

  it('--skip-crd-creation creates nothing, says which CRDs are missing, and proceeds once they are there', async () => {
    const api = await startApiServer({ bookmarkIntervalMs: 0 });
    onTestFinished(() => api.stop());
    const h = await hive({
      'k8s-kubeconfig-path': api.kubeconfigPath,
      'skip-crd-creation': true,
    }).requireStart();
    const res = h.get(K8sResources);
    await res.pods.waitSynced();
    const missing = await eventually(() => {
      const s = health(h, 'k8s.crds');
      return s?.level === 'degraded' ? s : undefined;
    });
    for (const m of crdManifests()) expect(missing.message).toContain(m.metadata.name);
    expect(res.ciliumNetworkPolicies.synced()).toBe(false);
    for (const m of crdManifests()) api.create('customresourcedefinitions', m);
    await res.ciliumNetworkPolicies.waitSynced();
    await res.ciliumIdentities.waitSynced();
    expect(
      api.requests.filter(
        (r) =>
          r.resource === 'customresourcedefinitions' && r.verb === 'create' && r.userAgent !== '',
      ),
    ).toEqual([]);
    await eventually(() => health(h, 'k8s.crds')?.level === 'ok');
  });
});
