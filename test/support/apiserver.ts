// The Kubernetes API server double the tests start: a real HTTPS server on 127.0.0.1 that the
// real @kubernetes/client-node (and so the agent, with --k8s-kubeconfig-path) talks to. It keeps
// kube-apiserver's semantics for what the agent uses: one etcd-like resourceVersion counter,
// list (selectors, limit/continue) and watch (from a resourceVersion, synthetic ADDED for "" and
// "0", bookmarks, 410 Expired after compact()), get/create/update/patch/delete with conflicts,
// the status subresource, CRD registration serving custom resources, discovery, and Status errors.
// Tests also drive it directly (objects in and out without HTTP, still bumping the revision and
// emitting watch events) and break it (pause, dropWatches, compact, injected failures).
//
// Patching with client-node 1.4: the generated APIs send `application/json-patch+json` unless
// told otherwise; pick the format with a middleware option:
//   import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
//   await core.patchNode({ name, body: { metadata: { annotations: { a: 'b' } } } },
//     setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
// (StrategicMergePatch for built-in kinds only: custom resources answer 415, as the real one;
// JsonPatch takes an array of operations; ServerSideApply needs `fieldManager`.)
//
// Kept from kube-apiserver on purpose, so tests that pass here pass on a real cluster: status is
// dropped on create for kinds with a status subresource (pods start Pending; use updateStatus, or
// direct create(), which keeps it); a pod's spec is immutable but for images and a few fields
// (spec.nodeName through POST pods/<name>/binding, once); custom resources and CRDs refuse updates
// without metadata.resourceVersion (422); a no-op update bumps nothing; CRDs become Established
// just after their create (served from then on); Services get a ClusterIP (10.96.0.0/12) and
// NodePorts; namespaces get kubernetes.io/metadata.name; dependents of a deleted owner are
// garbage-collected (ownerReferences); finalizers hold deletions; lists of built-in kinds carry
// items without kind/apiVersion.
//
// Simplified on purpose (see apiserver/*.ts): no schema validation beyond names, pod containers,
// Service allocation and CRD names; strategic merge knows the merge keys of the lists the agent
// touches (apiserver/patch.ts); server-side apply merges like a strategic merge patch without
// field ownership; pods are deleted at once unless gracefulPodDeletion; a namespace's deletion
// removes its objects at once; custom resources are not converted between versions; lists at a
// resourceVersion other than Exact (or paginated) answer the current state.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRange } from './apiserver/defaults.js';
import type { JsonObject } from './apiserver/patch.js';
import { qualifiedName } from './apiserver/resources.js';
import {
  serve,
  trackSockets,
  type FailureRule,
  type RequestInfo,
  type RequestRecord,
} from './apiserver/server.js';
import { ApiState, type ListQuery, type OpenWatch, type PatchType } from './apiserver/state.js';
import { ApiError } from './apiserver/status.js';
import { selfSignedCert, writeKubeconfig } from './apiserver/tls.js';

export type { FailureRule, RequestInfo, RequestRecord } from './apiserver/server.js';
export type { OpenWatch, PatchType } from './apiserver/state.js';
export { ApiError } from './apiserver/status.js';

/** How to start the double. */
export interface ApiServerOptions {
  /** A fixed port (default: one the kernel picks). */
  readonly port?: number;
  /** The bearer token clients must send (default: a random one). */
  readonly token?: string;
  /** HTTPS with a self-signed certificate (default), or plain HTTP (kubeconfig: insecure-skip-tls-verify). */
  readonly tls?: boolean;
  /** Server-side end of watches that set no timeoutSeconds (default 0: never; kube-apiserver: 30-60 min). */
  readonly watchTimeoutSeconds?: number;
  /** Period of BOOKMARK events on watches that allow them (default 1000 ms; 0: only on bookmark()). */
  readonly bookmarkIntervalMs?: number;
  /** Events kept for watches to resume from (default: unlimited until compact()). */
  readonly historyLimit?: number;
  /** The first resourceVersion (default 1000). */
  readonly firstResourceVersion?: number;
  /** ClusterIPs come from here (default 10.96.0.0/12, the `kubernetes` Service at .1). */
  readonly serviceCidr?: string;
  /** Create what a fresh cluster has: namespaces default, kube-system, kube-public, kube-node-lease, the `kubernetes` Service (default true). */
  readonly seed?: boolean;
  /** 'async' (default): CRDs become Established right after their create; 'manual': on establishCrds(). */
  readonly crdEstablishment?: 'async' | 'manual';
  /** Delete objects whose owners (metadata.ownerReferences) are all gone, as kube-controller-manager's GC (default true). */
  readonly garbageCollection?: boolean;
  /** Pods on a node are marked for deletion (MODIFIED with deletionTimestamp) and deleted on the next turn, as with a kubelet (default false: at once). */
  readonly gracefulPodDeletion?: boolean;
}

/** Where an object is: its name and, for namespaced kinds, its namespace. */
export interface ObjectRef {
  readonly name: string;
  readonly namespace?: string;
}

/** A running double. Objects are plain JSON as on the wire. */
export interface ApiServerDouble {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** A kubeconfig for it (server, CA, token), for client-node and --k8s-kubeconfig-path. */
  readonly kubeconfigPath: string;
  /** The CA (PEM) clients trust, when TLS is on. */
  readonly caPem: string | undefined;
  /** Every request answered so far, in order. */
  readonly requests: readonly RequestRecord[];
  /** The current resourceVersion (the revision of the latest change). */
  resourceVersion(): number;

  /** Closes every connection, ends watches, removes the temporary directory. */
  stop(): Promise<void>;
  /** Unreachable: stops listening and cuts every connection; the state stays. */
  pause(): Promise<void>;
  /** Listens again, on the same port. */
  resume(): Promise<void>;
  readonly paused: boolean;
  /** Ends every open watch stream (`abrupt`: cuts their connections instead of ending cleanly). */
  dropWatches(opts?: { abrupt?: boolean }): number;
  /** Forgets history up to `resourceVersion` (default: all): older watches and exact lists get 410 Expired. */
  compact(resourceVersion?: number): void;
  /** Sends a BOOKMARK with the current resourceVersion on every watch that allows them. */
  bookmark(): void;
  /** The watches being served. */
  openWatches(resource?: string): OpenWatch[];
  /** Resolves once a watch on `resource` (pods, ciliumendpoints.cilium.io...) matching `pred` is open. */
  waitForWatch(
    resource: string,
    pred?: (w: OpenWatch) => boolean,
    signal?: AbortSignal,
  ): Promise<OpenWatch>;
  /** Resolves with the first request (already logged or later) matching `pred`. */
  waitForRequest(pred: (r: RequestRecord) => boolean, signal?: AbortSignal): Promise<RequestRecord>;
  /** Matching requests fail with the rule's code; returns the function that removes the rule. */
  failRequests(rule: FailureRule): () => void;
  /** Marks pending CRDs Established (with crdEstablishment 'manual'). */
  establishCrds(): void;

  /** Direct access (no HTTP, no auth; revisions and watch events as through the API). `resource`: `pods`, `ciliumendpoints`, `ciliumendpoints.cilium.io`, `cilium.io/v2/ciliumendpoints`. Create keeps a given status. */
  create<T extends object>(resource: string, obj: T): T;
  get<T extends object = JsonObject>(resource: string, ref: ObjectRef): T | undefined;
  list<T extends object = JsonObject>(
    resource: string,
    opts?: { namespace?: string } & ListQuery,
  ): T[];
  /** Replaces an object (a stale metadata.resourceVersion is a Conflict; none: unconditional). */
  update<T extends object>(resource: string, obj: T): T;
  /** Replaces an object's status only. */
  updateStatus<T extends object>(resource: string, obj: T): T;
  /** Patches (default: merge patch; `status`: the status subresource). */
  patch<T extends object = JsonObject>(
    resource: string,
    ref: ObjectRef,
    patch: unknown,
    opts?: { type?: PatchType; status?: boolean },
  ): T;
  delete<T extends object = JsonObject>(resource: string, ref: ObjectRef): T;
  /**
   * Stores an object as given, without validation or defaulting (malformed or hostile content for
   * tests of the agent's input checks), published as ADDED (or MODIFIED when its key exists). The
   * key is metadata.namespace/metadata.name when those are strings, else `key`.
   */
  injectRaw(resource: string, obj: unknown, key?: string): void;
  /** Writes a line as is on every open watch of `resource` (garbage, a truncated event...). */
  writeRawToWatches(resource: string, line: string): number;
  /** Resolves with the first object (now or later) of `resource` matching `pred`. */
  waitFor<T extends object = JsonObject>(
    resource: string,
    pred: (obj: T) => boolean,
    signal?: AbortSignal,
  ): Promise<T>;
  /** Resolves once no object of `resource` matches `pred`. */
  waitForGone<T extends object = JsonObject>(
    resource: string,
    pred: (obj: T) => boolean,
    signal?: AbortSignal,
  ): Promise<void>;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

function aborted(
  signal: AbortSignal | undefined,
  cleanup: () => void,
  reject: (e: unknown) => void,
): void {
  signal?.addEventListener(
    'abort',
    () => {
      cleanup();
      reject(signal.reason);
    },
    { once: true },
  );
}

/** Starts the double and writes its kubeconfig. */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServerDouble> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-apiserver-'));
  const token = opts.token ?? randomBytes(16).toString('hex');
  const tls = opts.tls ?? true;
  const state = new ApiState({
    firstResourceVersion: opts.firstResourceVersion ?? 1000,
    historyLimit: opts.historyLimit ?? Number.POSITIVE_INFINITY,
    serviceRange: parseRange(opts.serviceCidr ?? '10.96.0.0/12'),
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000,
    watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 0,
    crdEstablishment: opts.crdEstablishment ?? 'async',
    garbageCollection: opts.garbageCollection ?? true,
    gracefulPodDeletion: opts.gracefulPodDeletion ?? false,
  });
  const requests: RequestRecord[] = [];
  const requestWaiters = new Set<(r: RequestRecord) => void>();
  const rules = new Map<FailureRule, { left: number }>();
  const sockets = new Set<Socket>();
  let port = 0;
  let cert: { key: string; cert: string } | undefined;
  try {
    cert = tls ? selfSignedCert(dir) : undefined;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const deps = {
    state,
    token,
    hostPort: () => `127.0.0.1:${port}`,
    failureFor(info: RequestInfo): FailureRule | undefined {
      for (const [rule, n] of rules) {
        if (rule.match && !rule.match(info)) continue;
        if (--n.left <= 0) rules.delete(rule);
        return rule;
      }
      return undefined;
    },
    log(r: RequestRecord): void {
      requests.push(r);
      for (const w of [...requestWaiters]) w(r);
    },
  };
  const handler = (req: Parameters<typeof serve>[0], res: Parameters<typeof serve>[1]): void =>
    void serve(req, res, deps);
  const server: Server = cert ? createHttpsServer(cert, handler) : createHttpServer(handler);
  server.on('connection', trackSockets(sockets));
  port = await listen(server, opts.port ?? 0);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const kubeconfigPath = writeKubeconfig(dir, url, token, cert?.cert);
  let paused = false;
  let stopped = false;

  const cut = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const w of state.openWatches()) w.end(true);
    for (const s of sockets) s.destroy();
    await closed;
  };

  const ref = (resource: string, r: ObjectRef) => {
    const def = state.resource(resource);
    return { def, ns: def.namespaced ? r.namespace : undefined };
  };
  const meta = (o: object): { name: string; namespace?: string } => {
    const m = ((o as JsonObject).metadata ?? {}) as { name?: string; namespace?: string };
    return { name: m.name ?? '', ...(m.namespace ? { namespace: m.namespace } : {}) };
  };
  const matching = <T>(resource: string, pred: (o: T) => boolean): JsonObject | undefined => {
    const def = state.resource(resource);
    const hit = state.store
      .current(qualifiedName(def))
      .find(([, o]) => pred(state.out(def, o) as T));
    return hit ? state.out(def, hit[1]) : undefined;
  };

  if (opts.seed ?? true) {
    const ns = state.resource('namespaces');
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
      state.create(ns, undefined, { metadata: { name } });
    state.create(state.resource('services'), 'default', {
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        clusterIP: `${(opts.serviceCidr ?? '10.96.0.0/12').split('.').slice(0, 3).join('.')}.1`,
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      },
    });
  }

  const double: ApiServerDouble = {
    url,
    get port() {
      return port;
    },
    token,
    kubeconfigPath,
    caPem: cert?.cert,
    requests,
    resourceVersion: () => state.store.rv,
    async stop() {
      if (stopped) return;
      stopped = true;
      state.close();
      if (!paused) await cut();
      rmSync(dir, { recursive: true, force: true });
    },
    async pause() {
      if (paused || stopped) return;
      paused = true;
      await cut();
    },
    async resume() {
      if (!paused || stopped) return;
      await listen(server, port);
      paused = false;
    },
    get paused() {
      return paused;
    },
    dropWatches(o = {}) {
      const ws = state.openWatches();
      for (const w of ws) w.end(o.abrupt ?? false);
      return ws.length;
    },
    compact(rv) {
      state.store.compact(rv);
    },
    bookmark() {
      for (const w of state.openWatches()) w.bookmark();
    },
    openWatches(resource) {
      const res = resource === undefined ? undefined : qualifiedName(state.resource(resource));
      return state.openWatches().filter((w) => res === undefined || w.resource === res);
    },
    waitForWatch(resource, pred = () => true, signal) {
      const res = qualifiedName(state.resource(resource));
      const find = () => state.openWatches().find((w) => w.resource === res && pred(w));
      const now = find();
      if (now) return Promise.resolve(now);
      return new Promise((resolve, reject) => {
        const check = (r: RequestRecord): void => {
          if (r.verb !== 'watch') return;
          // The watch registers right after its request is logged.
          setImmediate(() => {
            const w = find();
            if (w) {
              requestWaiters.delete(check);
              resolve(w);
            }
          });
        };
        requestWaiters.add(check);
        aborted(signal, () => requestWaiters.delete(check), reject);
      });
    },
    waitForRequest(pred, signal) {
      const hit = requests.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const check = (r: RequestRecord): void => {
          if (!pred(r)) return;
          requestWaiters.delete(check);
          resolve(r);
        };
        requestWaiters.add(check);
        aborted(signal, () => requestWaiters.delete(check), reject);
      });
    },
    failRequests(rule) {
      rules.set(rule, { left: rule.times ?? Number.POSITIVE_INFINITY });
      return () => rules.delete(rule);
    },
    establishCrds() {
      for (const [name] of state.store.current('customresourcedefinitions.apiextensions.k8s.io'))
        state.establish(name);
    },
    create(resource, obj) {
      const def = state.resource(resource);
      const ns = def.namespaced ? meta(obj).namespace : undefined;
      return structuredClone(state.create(def, ns, obj, { keepStatus: true })) as typeof obj;
    },
    get(resource, r) {
      const { def, ns } = ref(resource, r);
      try {
        return structuredClone(state.get(def, ns, r.name)) as never;
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      }
    },
    list(resource, o = {}) {
      const def = state.resource(resource);
      const l = state.list(def, o.namespace, o);
      return structuredClone((l.items as JsonObject[]).map((i) => state.out(def, i))) as never[];
    },
    update(resource, obj) {
      const m = meta(obj);
      const { def, ns } = ref(resource, m);
      return structuredClone(state.update(def, ns, m.name, obj, undefined)) as typeof obj;
    },
    updateStatus(resource, obj) {
      const m = meta(obj);
      const { def, ns } = ref(resource, m);
      return structuredClone(state.update(def, ns, m.name, obj, 'status')) as typeof obj;
    },
    patch(resource, r, p, o = {}) {
      const { def, ns } = ref(resource, r);
      const type = o.type ?? 'application/merge-patch+json';
      const body = typeof p === 'string' ? p : JSON.stringify(p);
      return structuredClone(
        state.patch(def, ns, r.name, type, body, o.status ? 'status' : undefined, {
          fieldManager: 'test',
        }),
      ) as never;
    },
    delete(resource, r) {
      const { def, ns } = ref(resource, r);
      return structuredClone(state.delete(def, ns, r.name)) as never;
    },
    injectRaw(resource, obj, key) {
      const def = state.resource(resource);
      const m = (
        typeof obj === 'object' && obj !== null ? (obj as JsonObject).metadata : undefined
      ) as { name?: unknown; namespace?: unknown } | undefined;
      const name = typeof m?.name === 'string' ? m.name : undefined;
      const ns = typeof m?.namespace === 'string' ? m.namespace : undefined;
      const k =
        key ??
        (name !== undefined ? (ns ? `${ns}/${name}` : name) : randomBytes(4).toString('hex'));
      // The store stamps metadata.resourceVersion: an object without metadata gets one.
      const o =
        typeof obj === 'object' && obj !== null && !Array.isArray(obj)
          ? (obj as JsonObject)
          : { value: obj };
      state.injectRaw(def, structuredClone(o), k);
    },
    writeRawToWatches(resource, line) {
      const ws = this.openWatches(resource);
      for (const w of ws) w.writeRaw(line);
      return ws.length;
    },
    waitFor(resource, pred, signal) {
      const now = matching(resource, pred);
      if (now) return Promise.resolve(structuredClone(now) as never);
      const def = state.resource(resource);
      const res = qualifiedName(def);
      return new Promise((resolve, reject) => {
        const stop = state.store.subscribe((e) => {
          const o = state.out(def, e.obj);
          if (e.res !== res || e.type === 'DELETED' || !pred(o as never)) return;
          stop();
          resolve(structuredClone(o) as never);
        });
        aborted(signal, stop, reject);
      });
    },
    waitForGone(resource, pred, signal) {
      if (!matching(resource, pred)) return Promise.resolve();
      const res = qualifiedName(state.resource(resource));
      return new Promise((resolve, reject) => {
        const stop = state.store.subscribe((e) => {
          if (e.res !== res || matching(resource, pred)) return;
          stop();
          resolve();
        });
        aborted(signal, stop, reject);
      });
    },
  };
  return double;
}
