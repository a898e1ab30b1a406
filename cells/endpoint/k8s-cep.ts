// Kubernetes mode: a CiliumEndpoint per pod endpoint. The endpoints table is turned into a
// desired-state table of CiliumEndpoints (`k8s-ciliumendpoints`), which the repo's reconciler
// writes to the API server with retries and backoff — after the PUT is acknowledged, never in
// its way. A restart adopts the objects of restored endpoints, and the first prune deletes this
// node's objects whose endpoint is gone.
import { filter } from 'rxjs';
import { Trigger, type Jobs, type Logger } from '../../core/hive/index.js';
import {
  registerReconciler,
  statusPending,
  type Operations,
  type Reconciler,
  type Status,
} from '../../core/reconciler/index.js';
import type { DB, ReadTxn, Table, WriteTxn } from '../../core/statedb/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import type { K8sResources, Node } from '../k8s/index.js';
import {
  CepApiError,
  type CepApi,
  type CepStatus,
  type CiliumEndpointObject,
} from './k8s-cep-api.js';
import { securityLabels, type Endpoint } from './model.js';

/** One CiliumEndpoint as it should be on the API server. */
export interface CepRow {
  readonly namespace: string;
  readonly name: string;
  /** The pod's uid: the object's ownerReference (deleted with the pod by the garbage collector). */
  readonly podUid: string;
  readonly status: CepStatus;
  /** Where writing it is. */
  readonly reconcile: Status;
}

/** The desired CiliumEndpoints, by `namespace/name`. */
export function newCepTable(db: DB): Table<CepRow> {
  return db.newTable<CepRow>({
    name: 'k8s-ciliumendpoints',
    primaryKey: (r) => `${r.namespace}/${r.name}`,
  });
}

/** This node's IP as its Node object gives it (InternalIP, IPv4 first), '' when unknown. */
export function nodeIp(node: Node | undefined): string {
  const addrs = Array.isArray(node?.status?.addresses) ? node.status.addresses : [];
  const ips = ['InternalIP', 'ExternalIP'].flatMap((t) =>
    addrs.filter((a) => a.type === t && typeof a.address === 'string').map((a) => a.address),
  );
  return ips.find((ip) => !ip.includes(':')) ?? ips[0] ?? '';
}

/** The CiliumEndpoint status of an endpoint (Cilium's fields), on the node with IP `node`. */
export function cepStatus(ep: Endpoint, ids: IdentityAllocator, node: string): CepStatus {
  const ident = ids.get(ep.identity);
  return {
    id: ep.id,
    'external-identifiers': {
      'container-id': ep.containerId,
      'k8s-namespace': ep.k8sNamespace,
      'k8s-pod-name': ep.k8sPodName,
      'pod-name': `${ep.k8sNamespace}/${ep.k8sPodName}`,
      ...(ep.cniAttachmentId ? { 'cni-attachment-id': ep.cniAttachmentId } : {}),
    },
    identity: { id: ep.identity, labels: [...(ident?.labels ?? securityLabels(ep))] },
    networking: {
      addressing: [
        { ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}), ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}) },
      ],
      node,
    },
    state: ep.state,
    'named-ports': (ep.namedPorts ?? []).map((p) => ({ ...p })),
    encryption: {},
  };
}

/** The object written for a row (a replace adds the resourceVersion it read). */
export function cepObject(r: CepRow): CiliumEndpointObject {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: {
      name: r.name,
      namespace: r.namespace,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: r.name, uid: r.podUid }],
    },
    status: r.status,
  };
}

/** What the CiliumEndpoint sync needs. */
export interface CepSyncParams {
  readonly db: DB;
  readonly endpoints: Table<Endpoint>;
  readonly ceps: Table<CepRow>;
  readonly resources: K8sResources;
  readonly ids: IdentityAllocator;
  readonly api: CepApi;
  readonly nodeName: string;
  readonly jobs: Jobs;
  readonly logger: Logger;
}

/**
 * Registers the desired-state job (endpoints → CiliumEndpoint rows) and the reconciler (rows →
 * API server). The rows' table is initialized once the endpoints are restored and derived, so
 * the first prune never deletes the object of an endpoint not restored yet.
 */
export function registerCepSync(p: CepSyncParams): Reconciler {
  const done = p.db.update([p.ceps], (w) => w.registerInitializer(p.ceps, 'endpoints'));
  const nodes = p.resources.nodes.table;
  const thisNode = (txn: ReadTxn): string => nodeIp(nodes.get(txn, p.nodeName));

  p.jobs.oneShot('k8s-cep-desired', async (ctx) => {
    const trigger = new Trigger();
    const names = new Set([p.endpoints.name, nodes.name]);
    const sub = p.db.commits$
      .pipe(filter((changed) => [...changed].some((n) => names.has(n))))
      .subscribe(() => {
        trigger.poke();
      });
    // Identities carry the labels shown in the objects; a new one may come after its endpoint.
    const idSub = p.ids.changes$.subscribe(() => {
      trigger.poke();
    });
    const epIt = p.endpoints.changes();
    let node = '';
    let initialized = false;
    try {
      while (!ctx.signal.aborted) {
        const txn = p.db.readTxn();
        const ip = thisNode(txn);
        const pods = new Set<string>();
        const all = ip !== node;
        node = ip;
        for (const c of epIt.next(txn)) {
          if (c.object.k8sPodName !== '') pods.add(podKey(c.object));
        }
        p.db.update([p.ceps], (w) => {
          if (all) {
            for (const r of p.ceps.all(w)) pods.add(`${r.namespace}/${r.name}`);
            for (const ep of p.endpoints.all(w)) if (ep.k8sPodName !== '') pods.add(podKey(ep));
          }
          for (const pod of pods) derive(w, pod, node);
          if (!initialized && p.endpoints.initialized(txn)) {
            initialized = true;
            done(w);
          }
        });
        await trigger.wait(3_600_000, ctx.signal);
      }
    } finally {
      sub.unsubscribe();
      idSub.unsubscribe();
      epIt.close();
    }
  });

  /** Brings the row of pod `key` to the pod's endpoint (the lowest id when it has several). */
  const derive = (w: WriteTxn, key: string, node: string): void => {
    const ep = p.endpoints.listBy(w, 'pod-name', key).sort((a, b) => a.id - b.id)[0];
    const cur = p.ceps.get(w, key);
    if (!ep || ep.k8sUid === '') {
      if (cur) w.deleteKey(p.ceps, key);
      return;
    }
    const status = cepStatus(ep, p.ids, node);
    if (cur && cur.podUid === ep.k8sUid && JSON.stringify(cur.status) === JSON.stringify(status)) {
      return;
    }
    w.insert(p.ceps, {
      namespace: ep.k8sNamespace,
      name: ep.k8sPodName,
      podUid: ep.k8sUid,
      status,
      reconcile: statusPending(),
    });
  };

  return registerReconciler({
    db: p.db,
    table: p.ceps,
    ops: cepOps(p.api, () => thisNode(p.db.readTxn()), p.logger),
    getStatus: (r) => r.reconcile,
    setStatus: (r, reconcile) => ({ ...r, reconcile }),
    jobs: p.jobs,
    config: { retry: { minMs: 100, maxMs: 30_000 } },
  });
}

/** An object's resourceVersion ('' when the API server sent none). */
function versionOf(o: CiliumEndpointObject): string {
  const v: unknown = (o as Partial<CiliumEndpointObject> | null)?.metadata?.resourceVersion;
  return typeof v === 'string' ? v : '';
}

function podKey(ep: Endpoint): string {
  return `${ep.k8sNamespace}/${ep.k8sPodName}`;
}

/**
 * The reconciler's operations: create or replace (adopting an object that exists, e.g. after a
 * restart), delete (absent is fine), and a prune of this node's objects that no row wants.
 */
export function cepOps(api: CepApi, node: () => string, logger: Logger): Operations<CepRow> {
  const versions = new Map<string, string>();
  const key = (ns: string, name: string): string => `${ns}/${name}`;
  const write = async (r: CepRow, signal: AbortSignal): Promise<void> => {
    const k = key(r.namespace, r.name);
    const body = cepObject(r);
    for (let attempt = 0; attempt < 3; attempt++) {
      let rv = versions.get(k);
      if (rv === undefined) {
        const existing = await api.get(r.namespace, r.name, signal);
        if (!existing) {
          try {
            const created = await api.create(body, signal);
            versions.set(k, versionOf(created));
            return;
          } catch (e) {
            if (e instanceof CepApiError && e.code === 409) continue; // created meanwhile
            throw e;
          }
        }
        rv = versionOf(existing);
      }
      try {
        const replaced = await api.replace(
          { ...body, metadata: { ...body.metadata, resourceVersion: rv } },
          signal,
        );
        versions.set(k, versionOf(replaced));
        return;
      } catch (e) {
        versions.delete(k);
        if (e instanceof CepApiError && (e.code === 409 || e.code === 404)) continue;
        throw e;
      }
    }
    throw new Error(`CiliumEndpoint ${k}: changed by someone else at every attempt`);
  };
  return {
    update: (ctx, r) => write(r, ctx.signal),
    async delete(ctx, r) {
      await api.delete(r.namespace, r.name, ctx.signal);
      versions.delete(key(r.namespace, r.name));
    },
    async prune(ctx, desired) {
      const ip = node();
      // Without this node's IP its objects cannot be told from other nodes': none is touched.
      if (ip === '') return;
      const want = new Set([...desired].map((r) => key(r.namespace, r.name)));
      for (const raw of await api.list(ctx.signal)) {
        // Whatever the API server sends: objects that are not well-formed are not this node's.
        const o = raw as unknown as Partial<Record<string, Record<string, unknown>>> | null;
        const name = o?.metadata?.name;
        const ns = o?.metadata?.namespace;
        const on = (o?.status?.networking as { node?: unknown } | undefined)?.node;
        if (typeof name !== 'string' || typeof ns !== 'string') continue;
        if (on !== ip || want.has(key(ns, name))) continue;
        logger.info({ ciliumEndpoint: key(ns, name) }, 'stale CiliumEndpoint of this node deleted');
        await api.delete(ns, name, ctx.signal);
        versions.delete(key(ns, name));
      }
    },
  };
}
