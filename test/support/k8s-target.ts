// Where the Kubernetes tests run: a fresh API server double, or, when KUBECONFIG is set, the real
// cluster it points at (a namespace of the test's own, deleted at the end). Both are driven the
// same way, through @kubernetes/client-node, so the scenario suite runs against either; the
// double's controls (pause, dropWatches, compact, the request log) exist only on the double, and
// tests that need them skip with the reason on a real cluster (requireDouble).
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type RequestOptions } from 'node:https';
import { request as plainRequest } from 'node:http';
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
  Watch,
  type KubernetesObject,
  type V1APIResource,
  type V1Namespace,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type { Wire } from '../../cells/k8s/types.js';
import { startApiServer, type ApiServerDouble, type ApiServerOptions } from './apiserver.js';

/**
 * A plain JSON object as a body for client-node's typed APIs, which declare classes (V1Pod...)
 * although the wire carries plain objects (and the lint rule refuses literals for classes).
 */
export function wire<T>(o: Wire<T>): T {
  return o as T;
}

/** An answer of client-node's typed APIs as the plain JSON type (to spread into the next body). */
export function plain<T>(o: T): Wire<T> {
  return o as Wire<T>;
}

/** Any object the target handles: apiVersion, kind and metadata.name set. */
export interface TargetObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** What names an object: its apiVersion, kind, name and (namespaced kinds) namespace. */
export interface TargetRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** The test's Kubernetes: the double or a real cluster, driven through client-node. */
export interface K8sTarget {
  readonly kind: 'double' | 'cluster';
  /** The kubeconfig to give the agent (--k8s-kubeconfig-path). */
  readonly kubeconfigPath: string;
  readonly kc: KubeConfig;
  /** A namespace of this target's own, created at open and deleted at close. */
  readonly namespace: string;
  /** The double, with its controls; undefined on a real cluster. */
  readonly double: ApiServerDouble | undefined;
  core(): CoreV1Api;
  discovery(): DiscoveryV1Api;
  networking(): NetworkingV1Api;
  custom(): CustomObjectsApi;
  apiextensions(): ApiextensionsV1Api;
  objects(): KubernetesObjectApi;
  /** Creates an object; a `status` given is then written through the status subresource. */
  create<T extends TargetObject>(obj: T): Promise<T>;
  /** Reads an object; undefined when it does not exist. */
  read<T extends TargetObject>(ref: TargetRef): Promise<T | undefined>;
  /** Replaces an object (a stale metadata.resourceVersion fails with 409). */
  replace<T extends TargetObject>(obj: T): Promise<T>;
  /** Replaces an object's status. */
  replaceStatus<T extends TargetObject>(obj: T): Promise<T>;
  /** Merge-patches an object (`patch` as JSON; PatchStrategy for another format). */
  patch<T extends TargetObject>(ref: TargetRef, patch: object, strategy?: string): Promise<T>;
  /** Deletes an object; nothing when it is already gone. */
  delete(ref: TargetRef): Promise<void>;
  list<T extends TargetObject>(
    apiVersion: string,
    kind: string,
    opts?: { namespace?: string; labelSelector?: string; fieldSelector?: string },
  ): Promise<T[]>;
  /** Resolves with the first object of the kind (now or later) matching `pred`, watching through client-node. */
  waitFor<T extends TargetObject>(
    apiVersion: string,
    kind: string,
    pred: (o: T) => boolean,
    opts?: { namespace?: string; signal?: AbortSignal },
  ): Promise<T>;
  /** The double, or the test is skipped with why (a real cluster has no such controls). */
  requireDouble(ctx: { skip(note?: string): never }, what?: string): ApiServerDouble;
  /** Deletes the namespace (real cluster) or stops the double. */
  close(): Promise<void>;
}

/** Options of openK8sTarget. */
export interface K8sTargetOptions {
  /** Options of the double (ignored on a real cluster). */
  readonly double?: ApiServerOptions;
  /** The test namespace's prefix (default `cellium-test`). */
  readonly namespacePrefix?: string;
  /** A real cluster's kubeconfig (default: $KUBECONFIG; unset: the double). */
  readonly kubeconfig?: string;
}

/** Whether the tests run against a real cluster ($KUBECONFIG set). */
export function realClusterKubeconfig(): string | undefined {
  const k = process.env.KUBECONFIG;
  return k ? k.split(':')[0] : undefined;
}

// A target object handed to client-node, which declares classes for what is plain JSON.
function cast<T>(o: TargetObject): T {
  return o as unknown as T;
}

function notFound(e: unknown): boolean {
  return e instanceof ApiException && e.code === 404;
}

/** Opens the test's target: the real cluster of $KUBECONFIG, or a fresh API server double. */
export async function openK8sTarget(opts: K8sTargetOptions = {}): Promise<K8sTarget> {
  const kubeconfig = opts.kubeconfig ?? realClusterKubeconfig();
  const double = kubeconfig === undefined ? await startApiServer(opts.double) : undefined;
  const kubeconfigPath = kubeconfig ?? double?.kubeconfigPath ?? '';
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const namespace = `${opts.namespacePrefix ?? 'cellium-test'}-${randomBytes(4).toString('hex')}`;
  try {
    await core.createNamespace({ body: wire<V1Namespace>({ metadata: { name: namespace } }) });
  } catch (e) {
    await double?.stop();
    throw e;
  }

  const discovered = new Map<string, V1APIResource[]>();
  const resourceOf = async (apiVersion: string, kind: string): Promise<V1APIResource> => {
    let list = discovered.get(apiVersion);
    if (!list) {
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      list = (
        group
          ? await custom.getAPIResources({ group, version: version ?? '' })
          : await core.getAPIResources()
      ).resources;
      discovered.set(apiVersion, list);
    }
    const r = list.find((x) => x.kind === kind && !x.name.includes('/'));
    if (!r) throw new Error(`the API server serves no ${kind} in ${apiVersion}`);
    return r;
  };
  const pathOf = async (apiVersion: string, kind: string, ns?: string): Promise<string> => {
    const r = await resourceOf(apiVersion, kind);
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return r.namespaced && ns ? `${base}/namespaces/${ns}/${r.name}` : `${base}/${r.name}`;
  };
  // Writes go out as the JSON given, as kubectl sends a manifest: client-node's typed serializer
  // would drop fields its models name differently (a NetworkPolicy peer's `from` is `_from`).
  const raw = async <T>(method: string, path: string, body: unknown, type: string): Promise<T> => {
    const url = new URL(path, kc.getCurrentCluster()?.server ?? '');
    const opts: RequestOptions = {
      method,
      headers: { 'content-type': type, accept: 'application/json' },
    };
    await kc.applyToHTTPSOptions(opts);
    const send = url.protocol === 'http:' ? plainRequest : httpRequest;
    return await new Promise<T>((resolve, reject) => {
      const req = send(url, opts, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(JSON.parse(text) as T);
          else reject(new ApiException(code, `${method} ${path}: ${text}`, text, {}));
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  };
  const header = (ref: TargetRef): TargetObject => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
  });

  const replaceStatus = async <T extends TargetObject>(obj: T): Promise<T> => {
    const name = obj.metadata.name;
    const ns = obj.metadata.namespace ?? namespace;
    if (obj.apiVersion === 'v1') {
      switch (obj.kind) {
        case 'Pod':
          return (await core.replaceNamespacedPodStatus({
            name,
            namespace: ns,
            body: cast<V1Pod>(obj),
          })) as unknown as T;
        case 'Node':
          return (await core.replaceNodeStatus({
            name,
            body: cast<V1Node>(obj),
          })) as unknown as T;
        case 'Service':
          return (await core.replaceNamespacedServiceStatus({
            name,
            namespace: ns,
            body: cast<V1Service>(obj),
          })) as unknown as T;
        case 'Namespace':
          return (await core.replaceNamespaceStatus({
            name,
            body: cast<V1Namespace>(obj),
          })) as unknown as T;
        default:
          throw new Error(`no status subresource for v1 ${obj.kind} in the target`);
      }
    }
    const [group = '', version = ''] = obj.apiVersion.split('/');
    const r = await resourceOf(obj.apiVersion, obj.kind);
    return (await (r.namespaced
      ? custom.replaceNamespacedCustomObjectStatus({
          group,
          version,
          namespace: ns,
          plural: r.name,
          name,
          body: obj,
        })
      : custom.replaceClusterCustomObjectStatus({
          group,
          version,
          plural: r.name,
          name,
          body: obj,
        }))) as T;
  };

  const list = async <T extends TargetObject>(
    apiVersion: string,
    kind: string,
    o: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<T[]> => {
    const l = await objects.list(
      apiVersion,
      kind,
      o.namespace,
      undefined,
      undefined,
      undefined,
      o.fieldSelector,
      o.labelSelector,
    );
    return l.items.map((i) => ({ apiVersion, kind, ...plain(i) }) as unknown as T);
  };

  const target: K8sTarget = {
    kind: double ? 'double' : 'cluster',
    kubeconfigPath,
    kc,
    namespace,
    double,
    core: () => core,
    discovery: () => kc.makeApiClient(DiscoveryV1Api),
    networking: () => kc.makeApiClient(NetworkingV1Api),
    custom: () => custom,
    apiextensions: () => kc.makeApiClient(ApiextensionsV1Api),
    objects: () => objects,
    async create(obj) {
      const created = await raw<typeof obj>(
        'POST',
        await pathOf(obj.apiVersion, obj.kind, obj.metadata.namespace ?? namespace),
        obj,
        'application/json',
      );
      if (obj.status === undefined) return created;
      return replaceStatus({
        ...created,
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        status: obj.status,
      });
    },
    async read<T extends TargetObject>(ref: TargetRef) {
      try {
        return (await objects.read(
          cast<KubernetesObject & { metadata: { name: string } }>(header(ref)),
        )) as unknown as T;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    },
    async replace(obj) {
      const ns = obj.metadata.namespace ?? namespace;
      const path = `${await pathOf(obj.apiVersion, obj.kind, ns)}/${obj.metadata.name}`;
      return await raw<typeof obj>('PUT', path, obj, 'application/json');
    },
    replaceStatus,
    async patch<T extends TargetObject>(ref: TargetRef, p: object, strategy?: string) {
      const type = strategy ?? PatchStrategy.MergePatch;
      const ns = ref.namespace ?? namespace;
      let path = `${await pathOf(ref.apiVersion, ref.kind, ns)}/${ref.name}`;
      let body: unknown = p;
      if (type === PatchStrategy.ServerSideApply) {
        // An apply configuration names what it is, as a manifest does.
        const h = header(ref);
        const pm = (p as { metadata?: object }).metadata ?? {};
        body = { ...p, ...h, metadata: { ...pm, ...h.metadata } };
        path += '?fieldManager=cellium-test';
      }
      return await raw<T>('PATCH', path, body, type);
    },

    async delete(ref) {
      try {
        await objects.delete(cast<KubernetesObject>(header(ref)));
      } catch (e) {
        if (!notFound(e)) throw e;
      }
    },
    list,
    async waitFor<T extends TargetObject>(
      apiVersion: string,
      kind: string,
      pred: (o: T) => boolean,
      o: { namespace?: string; signal?: AbortSignal } = {},
    ) {
      const path = await pathOf(apiVersion, kind, o.namespace);
      const watcher = new Watch(kc);
      for (;;) {
        o.signal?.throwIfAborted();
        const l = await objects.list(apiVersion, kind, o.namespace);
        const hit = l.items
          .map((i) => ({ apiVersion, kind, ...plain(i) }) as unknown as T)
          .find(pred);
        if (hit) return hit;
        const found = await new Promise<T | undefined>((resolve, reject) => {
          let ctl: AbortController | undefined;
          const onAbort = (): void => {
            ctl?.abort();
            const why: unknown = o.signal?.reason;
            reject(why instanceof Error ? why : new Error('aborted'));
          };
          o.signal?.addEventListener('abort', onAbort, { once: true });
          const finish = (v: T | undefined): void => {
            o.signal?.removeEventListener('abort', onAbort);
            ctl?.abort();
            resolve(v);
          };
          watcher
            .watch(
              path,
              { resourceVersion: l.metadata?.resourceVersion ?? '' },
              (type, obj: T) => {
                if ((type === 'ADDED' || type === 'MODIFIED') && pred(obj)) finish(obj);
              },
              () => finish(undefined),
            )
            .then((c) => (ctl = c), reject);
        });
        if (found) return found;
      }
    },
    requireDouble(ctx, what = 'the API server double') {
      if (!double)
        return ctx.skip(
          `needs ${what} (pause, dropWatches, compact, the request log): KUBECONFIG points at a real cluster`,
        );
      return double;
    },
    async close() {
      if (double) return double.stop();
      try {
        await core.deleteNamespace({ name: namespace });
      } catch (e) {
        if (!notFound(e)) throw e;
      }
    },
  };
  return target;
}
