// The API server double against the real @kubernetes/client-node 1.4: discovery and auth, CRUD and
// conflicts, selectors and pagination, watches resuming without loss or duplicates, bookmarks,
// 410 Expired after compaction, CRDs and custom objects, the patch formats, pause/resume,
// injected failures, and client-node's informer and generic object API over it.
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  NetworkingV1Api,
  PatchStrategy,
  VersionApi,
  Watch,
  makeInformer,
  setHeaderOptions,
  type KubernetesObject,
  type V1Binding,
  type V1ConfigMap,
  type V1CustomResourceDefinition,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { request } from 'node:https';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';
import { openK8sTarget, plain, wire } from './support/k8s-target.js';

interface WatchEvent {
  type: string;
  object: {
    metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
    code?: number;
    reason?: string;
    message?: string;
  };
}

// A watch through client-node's Watch: its events in order, next() waits for the following one.
class EventQueue {
  readonly events: WatchEvent[] = [];
  private read = 0;
  private wake: (() => void) | undefined;
  doneErr: unknown = undefined;
  ended = false;
  private controller: AbortController | undefined;

  static async open(
    kc: KubeConfig,
    path: string,
    params: Record<string, string | number | boolean | undefined>,
  ): Promise<EventQueue> {
    const q = new EventQueue();
    q.controller = await new Watch(kc).watch(
      path,
      params,
      (type, object: WatchEvent['object']) => {
        q.events.push({ type, object });
        q.wake?.();
      },
      (err: unknown) => {
        q.ended = true;
        q.doneErr = err;
        q.wake?.();
      },
    );
    return q;
  }

  /** The next event; undefined when the stream ended first. */
  async next(): Promise<WatchEvent | undefined> {
    while (this.read >= this.events.length && !this.ended)
      await new Promise<void>((r) => (this.wake = r));
    return this.events[this.read++];
  }

  /** Skips bookmarks. */
  async nextChange(): Promise<WatchEvent | undefined> {
    for (;;) {
      const e = await this.next();
      if (e?.type !== 'BOOKMARK') return e;
    }
  }

  async untilEnded(): Promise<void> {
    while (!this.ended) await new Promise<void>((r) => (this.wake = r));
  }

  abort(): void {
    this.controller?.abort();
  }
}

function pod(name: string, labels: Record<string, string> = {}, nodeName?: string): V1Pod {
  return wire<V1Pod>({
    metadata: { name, labels },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
  });
}

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
  throw new Error('expected the request to fail');
}

function statusOf(e: unknown): { reason?: string; message?: string; code?: number } {
  if (!(e instanceof ApiException)) throw e;
  return JSON.parse(String(e.body)) as { reason?: string; message?: string; code?: number };
}

// A GET over HTTPS trusting the double's CA, with or without the bearer token.
function raw(path: string, token?: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${api.url}${path}`,
      { ca: api.caPem, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let api: ApiServerDouble;
let kc: KubeConfig;
let core: CoreV1Api;
const queues: EventQueue[] = [];

async function watch(
  path: string,
  params: Record<string, string | number | boolean | undefined> = {},
): Promise<EventQueue> {
  const q = await EventQueue.open(kc, path, params);
  queues.push(q);
  return q;
}

beforeEach(async () => {
  api = await startApiServer({ bookmarkIntervalMs: 0 });
  kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: wire<V1Namespace>({ metadata: { name: 'test' } }) });
});

afterEach(async () => {
  for (const q of queues.splice(0)) q.abort();
  await api.stop();
});

describe('API server double: discovery and auth', () => {
  it('answers /version and discovery, and refuses requests without the token with a 401 Status', async () => {
    const v = await kc.makeApiClient(VersionApi).getCode();
    expect(v.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(v.platform).toBe('linux/amd64');
    const objs = KubernetesObjectApi.makeApiClient(kc);
    const np = wire<KubernetesObject & { spec: unknown }>({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'np', namespace: 'test' },
      spec: { podSelector: {} },
    });
    const created = await objs.create(np);
    expect(created.metadata?.uid).toBeTruthy();

    const bad = new KubeConfig();
    bad.loadFromString(
      JSON.stringify({
        ...JSON.parse(kc.exportConfig()),
        users: [{ name: 'cellium', user: { token: 'wrong' } }],
      }),
    );
    // client-node drops a 401's body: the code, then the Status itself over plain HTTPS.
    expect(await code(bad.makeApiClient(CoreV1Api).listNamespace())).toBe(401);
    const noToken = await raw('/api/v1/namespaces');
    expect(noToken.code).toBe(401);
    expect(JSON.parse(noToken.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    expect((await raw('/api/v1/namespaces', api.token)).code).toBe(200);
    expect(JSON.parse((await raw('/apis')).body)).toMatchObject({ kind: 'Status', code: 401 });
    const groups = JSON.parse((await raw('/apis', api.token)).body) as {
      groups: { name: string }[];
    };
    expect(groups.groups.map((g) => g.name)).toEqual(
      expect.arrayContaining(['discovery.k8s.io', 'networking.k8s.io', 'apiextensions.k8s.io']),
    );
    expect(api.requests.filter((r) => r.code === 401).length).toBe(3);
  });

  it('answers 404 Status for unknown paths and resources', async () => {
    const objs = KubernetesObjectApi.makeApiClient(kc);
    await expect(
      objs.read({ apiVersion: 'example.com/v1', kind: 'Nope', metadata: { name: 'x' } }),
    ).rejects.toThrow();
    try {
      await kc
        .makeApiClient(CustomObjectsApi)
        .listClusterCustomObject({ group: 'example.com', version: 'v1', plural: 'nopes' });
      expect.unreachable();
    } catch (e) {
      expect(statusOf(e)).toMatchObject({ code: 404, reason: 'NotFound' });
    }
  });
});

describe('API server double: CRUD', () => {
  it('creates, reads, replaces with optimistic concurrency, updates status, and deletes', async () => {
    const p = await core.createNamespacedPod({ namespace: 'test', body: pod('a', { app: 'web' }) });
    expect(p.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.metadata?.generation).toBe(1);
    expect(p.status?.phase).toBe('Pending');
    expect(p.spec?.serviceAccountName).toBe('default');
    expect(p.kind).toBe('Pod');
    const rv1 = Number(p.metadata?.resourceVersion);
    expect(rv1).toBe(api.resourceVersion());

    try {
      await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
      expect.unreachable();
    } catch (e) {
      expect(statusOf(e)).toMatchObject({
        code: 409,
        reason: 'AlreadyExists',
        message: 'pods "a" already exists',
      });
    }
    expect(await code(core.createNamespacedPod({ namespace: 'nope', body: pod('b') }))).toBe(404);
    try {
      await core.createNamespacedPod({ namespace: 'test', body: pod('Bad_Name') });
      expect.unreachable();
    } catch (e) {
      expect(statusOf(e)).toMatchObject({ code: 422, reason: 'Invalid' });
    }
    const gen = await core.createNamespacedPod({
      namespace: 'test',
      body: wire<V1Pod>({ ...plain(pod('')), metadata: { generateName: 'web-' } }),
    });
    expect(gen.metadata?.name).toMatch(/^web-[a-z0-9]{5}$/);

    const labelled = await core.replaceNamespacedPod({
      name: 'a',
      namespace: 'test',
      body: wire<V1Pod>({ ...plain(p), metadata: { ...plain(p).metadata, labels: { app: 'db' } } }),
    });
    expect(labelled.metadata?.labels).toEqual({ app: 'db' });
    expect(labelled.metadata?.generation).toBe(1); // metadata only
    expect(Number(labelled.metadata?.resourceVersion)).toBeGreaterThan(rv1);
    try {
      await core.replaceNamespacedPod({ name: 'a', namespace: 'test', body: p }); // stale
      expect.unreachable();
    } catch (e) {
      expect(statusOf(e)).toMatchObject({ code: 409, reason: 'Conflict' });
    }
    // A no-op update changes nothing, not even the resourceVersion.
    const same = await core.replaceNamespacedPod({ name: 'a', namespace: 'test', body: labelled });
    expect(same.metadata?.resourceVersion).toBe(labelled.metadata?.resourceVersion);

    // The main resource ignores status; the status subresource takes only status.
    const ignored = await core.replaceNamespacedPod({
      name: 'a',
      namespace: 'test',
      body: wire<V1Pod>({ ...plain(labelled), status: { podIP: '10.0.0.9' } }),
    });
    expect(ignored.status?.podIP).toBeUndefined();
    const withIp = await core.replaceNamespacedPodStatus({
      name: 'a',
      namespace: 'test',
      body: wire<V1Pod>({
        ...plain(ignored),
        metadata: { ...plain(ignored).metadata, labels: { ignored: 'yes' } },
        status: { phase: 'Running', podIP: '10.0.0.9' },
      }),
    });
    expect(withIp.status?.podIP).toBe('10.0.0.9');
    expect(withIp.metadata?.labels).toEqual({ app: 'db' });
    const newImage = {
      ...plain(withIp),
      spec: { ...plain(withIp).spec!, containers: [{ name: 'c', image: 'busybox:2' }] },
    };
    const specChange = await core.replaceNamespacedPod({
      name: 'a',
      namespace: 'test',
      body: wire<V1Pod>(newImage),
    });
    expect(specChange.metadata?.generation).toBe(2);
    // As kube-apiserver: a pod's spec is immutable but for images and a few fields.
    const moved = { ...plain(specChange), spec: { ...plain(specChange).spec!, nodeName: 'n1' } };
    try {
      await core.replaceNamespacedPod({ name: 'a', namespace: 'test', body: wire<V1Pod>(moved) });
      expect.unreachable();
    } catch (e) {
      expect(statusOf(e)).toMatchObject({ code: 422, reason: 'Invalid' });
    }

    const deleted = await core.deleteNamespacedPod({ name: 'a', namespace: 'test' });
    expect(deleted.metadata?.name).toBe('a');
    expect(await code(core.readNamespacedPod({ name: 'a', namespace: 'test' }))).toBe(404);
    expect(await code(core.deleteNamespacedPod({ name: 'a', namespace: 'test' }))).toBe(404);
  });

  it('allocates Service ClusterIPs and NodePorts, labels namespaces, and holds objects with finalizers', async () => {
    const svc = await core.createNamespacedService({
      namespace: 'test',
      body: wire<V1Service>({
        metadata: { name: 'web' },
        spec: { type: 'NodePort', ports: [{ port: 80 }] },
      }),
    });
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\.0\.\d+$/);
    expect(svc.spec?.clusterIP).not.toBe('10.96.0.1'); // the kubernetes Service has it
    expect(svc.spec?.ports?.[0]).toMatchObject({
      protocol: 'TCP',
      targetPort: 80,
      nodePort: 30000,
    });
    const kube = await core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
    expect(kube.spec?.clusterIP).toBe('10.96.0.1');
    const ns = await core.readNamespace({ name: 'test' });
    expect(ns.metadata?.labels?.['kubernetes.io/metadata.name']).toBe('test');
    expect(ns.status?.phase).toBe('Active');

    const cm = await core.createNamespacedConfigMap({
      namespace: 'test',
      body: wire<V1ConfigMap>({ metadata: { name: 'held', finalizers: ['example.com/hold'] } }),
    });
    await core.deleteNamespacedConfigMap({ name: 'held', namespace: 'test' });
    const marked = await core.readNamespacedConfigMap({ name: 'held', namespace: 'test' });
    expect(marked.metadata?.deletionTimestamp).toBeTruthy();
    expect(marked.metadata?.uid).toBe(cm.metadata?.uid);
    await core.replaceNamespacedConfigMap({
      name: 'held',
      namespace: 'test',
      body: wire<V1ConfigMap>({
        ...plain(marked),
        metadata: { ...plain(marked).metadata, finalizers: [] },
      }),
    });
    expect(await code(core.readNamespacedConfigMap({ name: 'held', namespace: 'test' }))).toBe(404);

    // Deleting a namespace deletes what is in it.
    await core.createNamespacedPod({ namespace: 'test', body: pod('p') });
    await core.deleteNamespace({ name: 'test' });
    expect(await code(core.readNamespacedPod({ name: 'p', namespace: 'test' }))).toBe(404);
    expect(await code(core.readNamespace({ name: 'test' }))).toBe(404);
  });
});

describe('API server double: list', () => {
  it('selects by labels (=, !=, in, notin, exists, !) and fields (metadata.name, spec.nodeName)', async () => {
    await core.createNamespacedPod({
      namespace: 'test',
      body: pod('a', { app: 'web', tier: 'fe' }, 'n1'),
    });
    await core.createNamespacedPod({ namespace: 'test', body: pod('b', { app: 'db' }, 'n2') });
    await core.createNamespacedPod({ namespace: 'test', body: pod('c', { app: 'cache' }, 'n1') });
    await core.createNamespace({ body: wire<V1Namespace>({ metadata: { name: 'other' } }) });
    await core.createNamespacedPod({ namespace: 'other', body: pod('d', { app: 'web' }, 'n1') });
    const names = async (
      labelSelector?: string,
      fieldSelector?: string,
      namespace = 'test',
    ): Promise<string[]> =>
      (await core.listNamespacedPod({ namespace, labelSelector, fieldSelector })).items.map(
        (p) => p.metadata!.name!,
      );
    expect(await names('app=web')).toEqual(['a']);
    expect(await names('app==web')).toEqual(['a']);
    expect(await names('app!=web')).toEqual(['b', 'c']);
    expect(await names('app in (web, db)')).toEqual(['a', 'b']);
    expect(await names('app notin (web,db)')).toEqual(['c']);
    expect(await names('tier')).toEqual(['a']);
    expect(await names('!tier')).toEqual(['b', 'c']);
    expect(await names('app in (web,db),!tier')).toEqual(['b']);
    expect(await names(undefined, 'spec.nodeName=n1')).toEqual(['a', 'c']);
    expect(await names(undefined, 'spec.nodeName!=n1,metadata.name!=c')).toEqual(['b']);
    expect(await names(undefined, 'metadata.name=b')).toEqual(['b']);
    const all = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    expect(all.items.map((p) => `${p.metadata!.namespace!}/${p.metadata!.name!}`)).toEqual([
      'other/d',
      'test/a',
      'test/c',
    ]);
    expect(all.items[0]!.kind).toBeUndefined(); // built-in list items carry no kind, as the real one's
    expect(all.metadata?.resourceVersion).toBe(String(api.resourceVersion()));
    expect(
      await code(core.listNamespacedPod({ namespace: 'test', fieldSelector: 'spec.bogus=1' })),
    ).toBe(400);
    expect(await code(core.listNamespacedPod({ namespace: 'test', labelSelector: 'a in (' }))).toBe(
      400,
    );
  });

  it('pages with limit and continue over a consistent snapshot', async () => {
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5'])
      await core.createNamespacedPod({ namespace: 'test', body: pod(n) });
    const first = await core.listNamespacedPod({ namespace: 'test', limit: 2 });
    expect(first.items.map((p) => p.metadata!.name)).toEqual(['p1', 'p2']);
    expect(first.metadata?.remainingItemCount).toBe(3);
    // Changes after the first page do not show in the following ones.
    await core.deleteNamespacedPod({ name: 'p3', namespace: 'test' });
    await core.createNamespacedPod({ namespace: 'test', body: pod('p6') });
    const second = await core.listNamespacedPod({
      namespace: 'test',
      limit: 2,
      _continue: first.metadata!._continue!,
    });
    expect(second.items.map((p) => p.metadata!.name)).toEqual(['p3', 'p4']);
    const third = await core.listNamespacedPod({
      namespace: 'test',
      limit: 2,
      _continue: second.metadata!._continue!,
    });
    expect(third.items.map((p) => p.metadata!.name)).toEqual(['p5']);
    expect(third.metadata?._continue).toBeUndefined();
    expect(third.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
  });
});

describe('API server double: watch', () => {
  it('sends synthetic ADDED for "" and then every change; a resourceVersion resumes after it', async () => {
    await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
    const fresh = await watch('/api/v1/namespaces/test/pods', {});
    expect(await fresh.next()).toMatchObject({
      type: 'ADDED',
      object: { metadata: { name: 'a' } },
    });
    const b = await core.createNamespacedPod({ namespace: 'test', body: pod('b') });
    expect(await fresh.next()).toMatchObject({
      type: 'ADDED',
      object: { kind: 'Pod', metadata: { name: 'b' } },
    });
    await core.patchNamespacedPod(
      { name: 'b', namespace: 'test', body: { metadata: { labels: { x: 'y' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(await fresh.next()).toMatchObject({
      type: 'MODIFIED',
      object: { metadata: { labels: { x: 'y' } } },
    });
    await core.deleteNamespacedPod({ name: 'a', namespace: 'test' });
    const del = await fresh.next();
    expect(del).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'a' } } });
    expect(Number(del!.object.metadata!.resourceVersion)).toBe(api.resourceVersion());

    // From b's creation: the patch and the delete, nothing before.
    const resumed = await watch('/api/v1/namespaces/test/pods', {
      resourceVersion: b.metadata!.resourceVersion,
    });
    expect((await resumed.next())?.type).toBe('MODIFIED');
    expect((await resumed.next())?.type).toBe('DELETED');
  });

  it('resumes across dropWatches() from the last seen resourceVersion without missing or duplicating', async () => {
    const list = await core.listNamespacedPod({ namespace: 'test' });
    let rv = list.metadata!.resourceVersion!;
    const seen: string[] = [];
    let w = await watch('/api/v1/namespaces/test/pods', {
      resourceVersion: rv,
      allowWatchBookmarks: true,
    });
    let writes = 0;
    const write = async (): Promise<void> => {
      writes++;
      await core.createNamespacedPod({ namespace: 'test', body: pod(`p${writes}`) });
    };
    for (let round = 0; round < 4; round++) {
      await write();
      await write();
      // Read what this watch delivers until it ends (dropped after two events, or right away).
      if (round % 2 === 0) api.dropWatches();
      else api.dropWatches({ abrupt: true });
      await write(); // while no watch is open
      for (;;) {
        const e = await w.next();
        if (!e) break;
        if (e.type !== 'BOOKMARK') seen.push(e.object.metadata!.name!);
        rv = e.object.metadata!.resourceVersion!;
      }
      w = await watch('/api/v1/namespaces/test/pods', {
        resourceVersion: rv,
        allowWatchBookmarks: true,
      });
    }
    await write();
    for (;;) {
      const e = await w.nextChange();
      seen.push(e!.object.metadata!.name!);
      if (seen.length === writes) break;
    }
    expect(seen).toEqual(Array.from({ length: writes }, (_, i) => `p${i + 1}`));
  });

  it('follows selectors: an object moving into the selection is ADDED, out of it DELETED', async () => {
    const w = await watch('/api/v1/pods', {
      fieldSelector: 'spec.nodeName=n1',
      resourceVersion: String(api.resourceVersion()),
    });
    await core.createNamespacedPod({ namespace: 'test', body: pod('x') });
    await core.createNamespacedPod({ namespace: 'test', body: pod('y', { app: 'web' }, 'n1') });
    expect(await w.next()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'y' } } });
    // Scheduling binds the pod to its node (the pods/binding subresource), once.
    const binding = { metadata: { name: 'x' }, target: { kind: 'Node', name: 'n1' } };
    await core.createNamespacedPodBinding({
      name: 'x',
      namespace: 'test',
      body: wire<V1Binding>(binding),
    });
    expect(await w.next()).toMatchObject({
      type: 'ADDED',
      object: { metadata: { name: 'x' }, spec: { nodeName: 'n1' } },
    });
    expect(
      await code(
        core.createNamespacedPodBinding({
          name: 'x',
          namespace: 'test',
          body: wire<V1Binding>(binding),
        }),
      ),
    ).toBe(409);
    const byLabel = await watch('/api/v1/namespaces/test/pods', {
      labelSelector: 'app=web',
      resourceVersion: String(api.resourceVersion()),
    });
    await core.patchNamespacedPod(
      { name: 'y', namespace: 'test', body: { metadata: { labels: { app: 'db' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(await byLabel.next()).toMatchObject({
      type: 'DELETED',
      object: { metadata: { name: 'y', labels: { app: 'db' } } },
    });
  });

  it('sends bookmarks with the current resourceVersion, on demand and periodically', async () => {
    const w = await watch('/api/v1/namespaces/test/pods', { allowWatchBookmarks: true });
    const plain = await watch('/api/v1/namespaces/test/services', {});
    await api.waitForWatch('services');
    await core.createNamespacedConfigMap({
      namespace: 'test',
      body: wire<V1ConfigMap>({ metadata: { name: 'elsewhere' } }),
    });
    api.bookmark();
    const bm = await w.next();
    expect(bm).toMatchObject({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1' } });
    expect(bm!.object.metadata!.resourceVersion).toBe(String(api.resourceVersion()));
    await core.createNamespacedService({
      namespace: 'test',
      body: wire<V1Service>({ metadata: { name: 's' }, spec: { ports: [{ port: 1 }] } }),
    });
    expect((await plain.next())?.type).toBe('ADDED'); // no bookmark was sent where not allowed

    const ticking = await startApiServer({ bookmarkIntervalMs: 20 });
    try {
      const kc2 = new KubeConfig();
      kc2.loadFromFile(ticking.kubeconfigPath);
      const t = await EventQueue.open(kc2, '/api/v1/nodes', { allowWatchBookmarks: true });
      queues.push(t);
      expect((await t.next())?.type).toBe('BOOKMARK');
      expect((await t.next())?.type).toBe('BOOKMARK');
    } finally {
      await ticking.stop();
    }
  });

  it('sends the initial events then a bookmark marking their end for sendInitialEvents', async () => {
    await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
    const w = await watch('/api/v1/namespaces/test/pods', {
      sendInitialEvents: true,
      allowWatchBookmarks: true,
      resourceVersionMatch: 'NotOlderThan',
    });
    expect((await w.next())?.type).toBe('ADDED');
    const end = await w.next();
    expect(end).toMatchObject({
      type: 'BOOKMARK',
      object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } },
    });
  });

  it('answers 410 Expired after compact(): an ERROR event on watch, and for exact lists and continue tokens', async () => {
    await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
    const old = String(api.resourceVersion());
    for (const n of ['b', 'c', 'd'])
      await core.createNamespacedPod({ namespace: 'test', body: pod(n) });
    const page = await core.listNamespacedPod({ namespace: 'test', limit: 1 });
    await core.createNamespacedPod({ namespace: 'test', body: pod('e') });
    // Before compaction, both work.
    const exact = await core.listNamespacedPod({
      namespace: 'test',
      resourceVersion: old,
      resourceVersionMatch: 'Exact',
    });
    expect(exact.items.map((p) => p.metadata!.name)).toEqual(['a']);
    api.compact();

    const w = await watch('/api/v1/namespaces/test/pods', { resourceVersion: old });
    const e = await w.next();
    expect(e).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
    expect(e!.object.message).toMatch(/too old resource version/);
    await w.untilEnded();
    for (const p of [
      core.listNamespacedPod({
        namespace: 'test',
        resourceVersion: old,
        resourceVersionMatch: 'Exact',
      }),
      core.listNamespacedPod({ namespace: 'test', limit: 1, _continue: page.metadata!._continue! }),
    ]) {
      try {
        await p;
        expect.unreachable();
      } catch (err) {
        expect(statusOf(err)).toMatchObject({ code: 410, reason: 'Expired' });
      }
    }
    // The current resourceVersion is still good.
    const now = await watch('/api/v1/namespaces/test/pods', {
      resourceVersion: String(api.resourceVersion()),
    });
    await core.deleteNamespacedPod({ name: 'a', namespace: 'test' });
    expect((await now.next())?.type).toBe('DELETED');
  });

  it("keeps client-node's informer in sync across dropped watches and a 410", async () => {
    const informer = makeInformer(kc, '/api/v1/namespaces/test/pods', () =>
      core.listNamespacedPod({ namespace: 'test' }),
    );
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    const has = (names: string[]) => () =>
      informer
        .list()
        .map((p) => p.metadata!.name)
        .sort()
        .join() === names.join();
    const until = (cond: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (cond()) resolve();
        };
        for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, check);
        informer.on('connect', check);
        check();
      });
    await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
    await until(has(['a']));
    api.dropWatches();
    await core.createNamespacedPod({ namespace: 'test', body: pod('b') });
    await until(has(['a', 'b']));
    // Changes while no watch is open, then compaction: the informer's next watch gets 410 and it
    // lists again. (Direct access is synchronous: nothing reaches the client in between.)
    api.dropWatches();
    api.delete('pods', { namespace: 'test', name: 'a' });
    api.create('pods', { ...plain(pod('c')), metadata: { name: 'c', namespace: 'test' } });
    api.compact();
    await until(has(['b', 'c']));
    await informer.stop();
    expect(errors).toEqual([]);
  });
});

describe('API server double: CRDs and custom objects', () => {
  const crd = {
    metadata: { name: 'ciliumendpoints.cilium.io' },
    spec: {
      group: 'cilium.io',
      scope: 'Namespaced' as const,
      names: {
        plural: 'ciliumendpoints',
        singular: 'ciliumendpoint',
        kind: 'CiliumEndpoint',
        listKind: 'CiliumEndpointList',
        shortNames: ['cep'],
      },
      versions: [
        {
          name: 'v2',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          },
        },
      ],
    },
  };

  it('registers a CRD, establishes it, serves its objects (status subresource, watch), and removes them with it', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const created = await ext.createCustomResourceDefinition({
      body: wire<V1CustomResourceDefinition>(crd),
    });
    expect(created.metadata?.uid).toBeTruthy();
    const est = await api.waitFor('customresourcedefinitions', (o) =>
      JSON.stringify(o.status ?? {}).includes('"type":"Established","status":"True"'),
    );
    expect(est.status).toMatchObject({
      acceptedNames: { kind: 'CiliumEndpoint' },
      storedVersions: ['v2'],
    });
    const read = await ext.readCustomResourceDefinition({ name: crd.metadata.name });
    expect(read.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      'NamesAccepted=True',
      'Established=True',
    ]);
    expect(
      await code(
        ext.createCustomResourceDefinition({
          body: wire<V1CustomResourceDefinition>({ ...crd, metadata: { name: 'wrong.cilium.io' } }),
        }),
      ),
    ).toBe(422);

    const w = await watch('/apis/cilium.io/v2/namespaces/test/ciliumendpoints', {});
    const ep = (await custom.createNamespacedCustomObject({
      group: 'cilium.io',
      version: 'v2',
      namespace: 'test',
      plural: 'ciliumendpoints',
      body: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumEndpoint',
        metadata: { name: 'ep' },
        status: { id: 7 },
      },
    })) as { metadata: { resourceVersion: string }; status?: unknown };
    expect(ep.status).toBeUndefined(); // dropped on create: the status subresource owns it
    expect(await w.next()).toMatchObject({
      type: 'ADDED',
      object: { kind: 'CiliumEndpoint', metadata: { name: 'ep' } },
    });
    const withStatus = (await custom.patchNamespacedCustomObjectStatus(
      {
        group: 'cilium.io',
        version: 'v2',
        namespace: 'test',
        plural: 'ciliumendpoints',
        name: 'ep',
        body: { status: { id: 7 } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as { status: { id: number } };
    expect(withStatus.status.id).toBe(7);
    expect((await w.next())?.type).toBe('MODIFIED');
    const listed = (await custom.listNamespacedCustomObject({
      group: 'cilium.io',
      version: 'v2',
      namespace: 'test',
      plural: 'ciliumendpoints',
    })) as {
      kind: string;
      items: { kind: string }[];
    };
    expect(listed.kind).toBe('CiliumEndpointList');
    expect(listed.items.map((i) => i.kind)).toEqual(['CiliumEndpoint']);
    expect(api.get('ciliumendpoints', { namespace: 'test', name: 'ep' })?.status).toEqual({
      id: 7,
    });
    // Custom resources refuse updates without a resourceVersion, as the real API server.
    const unconditional = {
      group: 'cilium.io',
      version: 'v2',
      namespace: 'test',
      plural: 'ciliumendpoints',
      name: 'ep',
      body: { apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name: 'ep' } },
    };
    expect(await code(custom.replaceNamespacedCustomObject(unconditional))).toBe(422);
    expect(
      await code(
        custom.patchNamespacedCustomObject(
          {
            group: 'cilium.io',
            version: 'v2',
            namespace: 'test',
            plural: 'ciliumendpoints',
            name: 'ep',
            body: { metadata: { labels: { a: 'b' } } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        ),
      ),
    ).toBe(415);

    await ext.deleteCustomResourceDefinition({ name: crd.metadata.name });
    expect((await w.next())?.type).toBe('DELETED');
    await w.untilEnded();
    expect(
      await code(
        custom.listNamespacedCustomObject({
          group: 'cilium.io',
          version: 'v2',
          namespace: 'test',
          plural: 'ciliumendpoints',
        }),
      ),
    ).toBe(404);
  });

  it('serves a cluster-scoped CRD after manual establishment only', async () => {
    const held = await startApiServer({ crdEstablishment: 'manual', bookmarkIntervalMs: 0 });
    try {
      const kc2 = new KubeConfig();
      kc2.loadFromFile(held.kubeconfigPath);
      const custom = kc2.makeApiClient(CustomObjectsApi);
      await kc2.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
        body: wire<V1CustomResourceDefinition>({
          metadata: { name: 'ciliumidentities.cilium.io' },
          spec: {
            group: 'cilium.io',
            scope: 'Cluster',
            names: { plural: 'ciliumidentities', kind: 'CiliumIdentity' },
            versions: [{ name: 'v2', served: true, storage: true }],
          },
        }),
      });
      const args = { group: 'cilium.io', version: 'v2', plural: 'ciliumidentities' };
      expect(await code(custom.listClusterCustomObject(args))).toBe(404);
      held.establishCrds();
      await custom.createClusterCustomObject({
        ...args,
        body: {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumIdentity',
          metadata: { name: '1234' },
          'security-labels': { 'k8s:app': 'web' },
        },
      });
      expect(held.get('ciliumidentities', { name: '1234' })?.['security-labels']).toEqual({
        'k8s:app': 'web',
      });
    } finally {
      await held.stop();
    }
  });
});

describe('API server double: patch', () => {
  it('applies JSON patch, merge patch, strategic merge patch and server-side apply', async () => {
    await core.createNode({
      body: wire<V1Node>({
        metadata: { name: 'n1', labels: { a: '1' } },
        spec: { taints: [{ key: 'node.cilium.io/agent-not-ready', effect: 'NoSchedule' }] },
      }),
    });
    await core.replaceNodeStatus({
      name: 'n1',
      body: wire<V1Node>({
        metadata: { name: 'n1' },
        status: {
          conditions: [
            { type: 'Ready', status: 'False' },
            { type: 'MemoryPressure', status: 'False' },
          ],
          addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
        },
      }),
    });
    const json = await core.patchNode({
      name: 'n1',
      body: [
        { op: 'test', path: '/spec/taints/0/key', value: 'node.cilium.io/agent-not-ready' },
        { op: 'remove', path: '/spec/taints/0' },
        {
          op: 'add',
          path: '/metadata/annotations',
          value: { 'network.cilium.io/ipv4-pod-cidr': '10.0.0.0/24' },
        },
      ],
    });
    expect(json.spec?.taints).toEqual([]);
    expect(json.metadata?.annotations).toEqual({
      'network.cilium.io/ipv4-pod-cidr': '10.0.0.0/24',
    });
    expect(
      await code(
        core.patchNode({
          name: 'n1',
          body: [{ op: 'test', path: '/metadata/name', value: 'other' }],
        }),
      ),
    ).toBe(422);

    const merge = await core.patchNode(
      { name: 'n1', body: { metadata: { labels: { a: null, b: '2' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merge.metadata?.labels).toEqual({ b: '2' });

    // Strategic merge: conditions merged by type (Cilium's NetworkUnavailable), others kept.
    const sm = await core.patchNodeStatus(
      {
        name: 'n1',
        body: {
          status: {
            conditions: [
              { type: 'NetworkUnavailable', status: 'False', reason: 'CiliumIsUp' },
              { type: 'Ready', status: 'True' },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(sm.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=True',
      'MemoryPressure=False',
      'NetworkUnavailable=False',
    ]);
    expect(sm.status?.addresses).toHaveLength(1);
    // Merge patch replaces the list.
    const mp = await core.patchNodeStatus(
      { name: 'n1', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(mp.status?.conditions).toHaveLength(1);
    // A patch carrying a stale resourceVersion conflicts.
    expect(
      await code(
        core.patchNode(
          { name: 'n1', body: { metadata: { resourceVersion: '1', labels: { c: '3' } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      ),
    ).toBe(409);

    const objs = KubernetesObjectApi.makeApiClient(kc);
    const applied = await objs.patch(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'cfg', namespace: 'test' },
        data: { k: 'v' },
      },
      undefined,
      undefined,
      'test',
      undefined,
      PatchStrategy.ServerSideApply,
    );
    expect((applied as { data?: unknown }).data).toEqual({ k: 'v' });
    const reapplied = await objs.patch(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'cfg', namespace: 'test' },
        data: { k: 'w' },
      },
      undefined,
      undefined,
      'test',
      undefined,
      PatchStrategy.ServerSideApply,
    );
    expect((reapplied as { data?: unknown }).data).toEqual({ k: 'w' });
    expect(api.requests.filter((r) => r.verb === 'patch').map((r) => r.contentType)).toEqual(
      expect.arrayContaining([
        PatchStrategy.JsonPatch,
        PatchStrategy.MergePatch,
        PatchStrategy.StrategicMergePatch,
        PatchStrategy.ServerSideApply,
      ]),
    );
  });
});

describe('API server double: faults and the request log', () => {
  it('is unreachable while paused and serves the same state on the same port after resume', async () => {
    await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
    const w = await watch('/api/v1/namespaces/test/pods', {
      resourceVersion: String(api.resourceVersion()),
    });
    const port = api.port;
    await api.pause();
    await w.untilEnded();
    await expect(core.listNamespacedPod({ namespace: 'test' })).rejects.toThrow(/ECONNREFUSED/);
    await api.resume();
    expect(api.port).toBe(port);
    const l = await core.listNamespacedPod({ namespace: 'test' });
    expect(l.items.map((p) => p.metadata!.name)).toEqual(['a']);
  });

  it('fails requests on demand and logs every request with its verb, resource and code', async () => {
    const remove = api.failRequests({
      code: 500,
      times: 2,
      match: (r) => r.resource === 'pods' && r.verb === 'list',
    });
    expect(await code(core.listNamespacedPod({ namespace: 'test' }))).toBe(500);
    expect(await code(core.listNamespacedPod({ namespace: 'test' }))).toBe(500);
    expect((await core.listNamespacedPod({ namespace: 'test' })).items).toEqual([]);
    remove();
    api.failRequests({ code: 429, times: 1, retryAfterSeconds: 1 });
    try {
      await core.readNamespace({ name: 'test' });
      expect.unreachable();
    } catch (e) {
      expect(statusOf(e)).toMatchObject({ code: 429, reason: 'TooManyRequests' });
    }
    await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: 'test' });
    await kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
      namespace: 'test',
      body: wire<V1NetworkPolicy>({ metadata: { name: 'deny' }, spec: { podSelector: {} } }),
    });
    const log = api.requests.map((r) =>
      [
        r.method,
        r.verb,
        r.group,
        r.version,
        r.resource,
        r.subresource,
        r.namespace,
        r.name,
        r.code,
      ].join(' '),
    );
    expect(log).toEqual(
      expect.arrayContaining([
        'POST create  v1 namespaces   test 201'.replace('test 201', ' 201'),
        'GET list  v1 pods  test  500',
        'GET list  v1 pods  test  200',
        'GET get  v1 namespaces  test test 429',
        'GET list discovery.k8s.io v1 endpointslices  test  200',
        'POST create networking.k8s.io v1 networkpolicies  test  201',
      ]),
    );
  });

  it('gives direct access that bumps resourceVersions and feeds watches', async () => {
    const w = await watch('/api/v1/nodes', { resourceVersion: String(api.resourceVersion()) });
    const n = api.create('nodes', {
      metadata: { name: 'n1' },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.1' }] },
    });
    expect(n.status).toEqual({ addresses: [{ type: 'InternalIP', address: '192.0.2.1' }] });
    expect(await w.next()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'n1' } } });
    const waiting = api.waitFor(
      'nodes',
      (o) => (o.metadata as { labels?: Record<string, string> }).labels?.ready === 'yes',
    );
    await core.patchNode(
      { name: 'n1', body: { metadata: { labels: { ready: 'yes' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect((await waiting).metadata).toMatchObject({ name: 'n1' });
    api.delete('nodes', { name: 'n1' });
    expect((await w.next())?.type).toBe('MODIFIED');
    expect((await w.next())?.type).toBe('DELETED');
    expect(api.list('nodes')).toEqual([]);
  });
});

describe('k8s-target on the double', () => {
  it('creates (with status), reads, patches, lists, waits for and deletes objects through client-node', async (ctx) => {
    const t = await openK8sTarget({ double: { bookmarkIntervalMs: 0 } });
    try {
      expect(t.kind).toBe('double');
      const d = t.requireDouble(ctx);
      const ns = t.namespace;
      expect(d.get('namespaces', { name: ns })).toBeDefined();
      const created = await t.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'nginx' }], nodeName: 'n1' },
        status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }] },
      });
      expect(created.status).toMatchObject({ podIP: '10.1.0.5' });
      const waiting = t.waitFor<{
        apiVersion: string;
        kind: string;
        metadata: { name: string; labels?: Record<string, string> };
      }>('v1', 'Pod', (p) => p.metadata.labels?.tier === 'fe', { namespace: ns });
      await d.waitForWatch('pods');
      await t.patch(
        { apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: ns },
        { metadata: { labels: { tier: 'fe' } } },
      );
      expect((await waiting).metadata.name).toBe('web');
      const pods = await t.list('v1', 'Pod', { namespace: ns, labelSelector: 'tier=fe' });
      expect(pods.map((p) => p.metadata.name)).toEqual(['web']);
      expect(pods[0]!.kind).toBe('Pod');
      const read = await t.read({ apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: ns });
      expect(read?.metadata.labels).toEqual({ app: 'web', tier: 'fe' });
      await t.delete({ apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: ns });
      await t.delete({ apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: ns }); // already gone: fine
      expect(
        await t.read({ apiVersion: 'v1', kind: 'Pod', name: 'web', namespace: ns }),
      ).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});

describe('API server double: hostile input and stuck requests', () => {
  it('serves injected malformed objects and raw lines as they are', async () => {
    const w = await watch('/api/v1/namespaces/test/pods', {
      resourceVersion: String(api.resourceVersion()),
    });
    api.injectRaw('pods', {
      metadata: { name: 'bad', namespace: 'test', labels: { 'k8s:app': 42 } },
      spec: 'not an object',
    });
    expect(await w.next()).toMatchObject({
      type: 'ADDED',
      object: { metadata: { name: 'bad', labels: { 'k8s:app': 42 } }, spec: 'not an object' },
    });
    expect(api.writeRawToWatches('pods', '{"type":"ADDED","object":')).toBe(1);
    api.injectRaw('pods', { metadata: { name: 'x', namespace: 'test', labels: 'not-a-map' } });
    // client-node's Watch skips the line it cannot parse; the next event still arrives.
    expect(await w.next()).toMatchObject({
      type: 'ADDED',
      object: { metadata: { name: 'x', labels: 'not-a-map' } },
    });
    const l = await raw('/api/v1/namespaces/test/pods', api.token);
    expect((JSON.parse(l.body) as { items: unknown[] }).items).toHaveLength(2);
  });

  it('leaves a hanging request unanswered until pause(), and ends watches after their timeout', async () => {
    api.failRequests({ code: 504, hang: true, times: 1 });
    const stuck = core.readNamespace({ name: 'test' });
    await api.waitForRequest((r) => r.code === 504 && r.name === 'test');
    await api.pause();
    await expect(stuck).rejects.toThrow();
    await api.resume();

    const w = await watch('/api/v1/namespaces/test/pods', { timeoutSeconds: 1 });
    await w.untilEnded();
    expect(w.doneErr).toBeNull();
    const short = await startApiServer({ watchTimeoutSeconds: 1, bookmarkIntervalMs: 0 });
    try {
      const kc2 = new KubeConfig();
      kc2.loadFromFile(short.kubeconfigPath);
      const w2 = await EventQueue.open(kc2, '/api/v1/nodes', {});
      queues.push(w2);
      await w2.untilEnded();
      expect(w2.doneErr).toBeNull();
    } finally {
      await short.stop();
    }
  });
});

describe('API server double: controllers it plays', () => {
  it('garbage-collects dependents once all their owners are gone', async () => {
    const a = await core.createNamespacedPod({ namespace: 'test', body: pod('a') });
    const b = await core.createNamespacedPod({ namespace: 'test', body: pod('b') });
    const owner = (p: V1Pod) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      name: p.metadata!.name!,
      uid: p.metadata!.uid!,
    });
    await core.createNamespacedConfigMap({
      namespace: 'test',
      body: wire<V1ConfigMap>({ metadata: { name: 'only-a', ownerReferences: [owner(a)] } }),
    });
    await core.createNamespacedConfigMap({
      namespace: 'test',
      body: wire<V1ConfigMap>({
        metadata: { name: 'a-and-b', ownerReferences: [owner(a), owner(b)] },
      }),
    });
    const name = (o: { metadata?: unknown }) => (o.metadata as { name: string }).name;
    await core.deleteNamespacedPod({ name: 'a', namespace: 'test' });
    await api.waitForGone('configmaps', (o) => name(o) === 'only-a');
    expect(api.get('configmaps', { namespace: 'test', name: 'a-and-b' })).toBeDefined();
    await core.deleteNamespacedPod({ name: 'b', namespace: 'test' });
    await api.waitForGone('configmaps', (o) => name(o) === 'a-and-b');
  });

  it('deletes pods on a node gracefully when asked: marked first, then gone', async () => {
    const g = await startApiServer({ gracefulPodDeletion: true, bookmarkIntervalMs: 0 });
    try {
      const kc2 = new KubeConfig();
      kc2.loadFromFile(g.kubeconfigPath);
      const c2 = kc2.makeApiClient(CoreV1Api);
      await c2.createNamespacedPod({ namespace: 'default', body: pod('p', {}, 'n1') });
      const w = await EventQueue.open(kc2, '/api/v1/namespaces/default/pods', {
        resourceVersion: String(g.resourceVersion()),
      });
      queues.push(w);
      const marked = await c2.deleteNamespacedPod({ name: 'p', namespace: 'default' });
      expect(marked.metadata?.deletionTimestamp).toBeTruthy();
      const m = await w.next();
      expect(m?.type).toBe('MODIFIED');
      expect(m?.object.metadata).toHaveProperty('deletionTimestamp');
      expect((await w.next())?.type).toBe('DELETED');
    } finally {
      await g.stop();
    }
  });
});
