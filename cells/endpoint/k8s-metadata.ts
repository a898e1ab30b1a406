// Kubernetes mode: what the endpoint manager asks of the reflected pods and namespaces — a pod's
// metadata for a new endpoint (waiting a little for the reflector, as Cilium's PUT does), and the
// caches' sync before restore.
import type { Health, Logger } from '../../core/hive/index.js';
import { waitFor, type DB } from '../../core/statedb/index.js';
import { objectKey, type K8sResources, type Namespace, type Pod } from '../k8s/index.js';
import { INIT_LABEL, podMetadata, type PodMetadata } from './k8s-labels.js';

/** The endpoint manager's view of Kubernetes (absent in embedded mode). */
export interface K8sEndpointMetadata {
  /** What the caches restore waits for, for readiness and health. */
  readonly caches: string;
  /** Resolves once pods and namespaces are synced (rejects when `signal` aborts). */
  waitSynced(signal?: AbortSignal): Promise<void>;
  /**
   * The metadata of pod `ns/name` for a new endpoint: waits up to the pod wait for the pod (with
   * `uid`, when the request gives one: a StatefulSet's pod of the same name may still be in the
   * cache) and its namespace; `reserved:init` labels when they do not appear (Cilium's init
   * identity: the labels follow once the pod is seen).
   */
  resolve(ns: string, name: string, uid: string, signal?: AbortSignal): Promise<PodMetadata>;
  /** The current metadata of pod `ns/name` from the caches; undefined when it is not usable. */
  lookup(ns: string, name: string): PodMetadata | undefined;
}

/** What the resolver needs. */
export interface K8sMetadataParams {
  readonly db: DB;
  readonly resources: K8sResources;
  readonly clusterName: string;
  readonly logger: Logger;
  /** Where malformed objects are named (`endpoint.k8s-pods`). */
  readonly health: Health;
  /** How long a PUT waits for its pod to reach the cache (Cilium: 20 tries 100 ms apart). */
  readonly podWaitMs?: number;
}

const POD_WAIT_MS = 2000;

/** The resolver over the reflected tables. */
export function newK8sMetadata(p: K8sMetadataParams): K8sEndpointMetadata {
  const { db, resources } = p;
  const pods = resources.pods.table;
  const namespaces = resources.namespaces.table;
  const bad = new Map<string, string>();
  const report = (): void => {
    const first = [...bad][0];
    if (first) p.health.degraded(`${bad.size} pods skipped: ${first[0]}: ${first[1]}`);
    else p.health.ok('pod labels in use');
  };
  const lookup = (ns: string, name: string, uid = ''): PodMetadata | undefined => {
    const txn = db.readTxn();
    const key = `${ns}/${name}`;
    const pod: Pod | undefined = pods.get(txn, key);
    const nsObj: Namespace | undefined = namespaces.get(txn, ns);
    if (!pod && bad.delete(key)) report();
    if (!pod || !nsObj || (uid !== '' && pod.metadata.uid !== uid)) return undefined;
    const meta = podMetadata(pod, nsObj, p.clusterName);
    if ('error' in meta) {
      if (bad.get(key) !== meta.error) {
        p.logger.warn({ pod: key, namespace: objectKey(nsObj) }, `pod skipped: ${meta.error}`);
        bad.set(key, meta.error);
        report();
      }
      return undefined;
    }
    if (bad.delete(key)) report();
    return meta;
  };
  return {
    caches: 'Kubernetes caches (pods, namespaces)',
    async waitSynced(signal) {
      await resources.pods.waitSynced(signal);
      await resources.namespaces.waitSynced(signal);
    },
    lookup: (ns, name) => lookup(ns, name),
    async resolve(ns, name, uid, signal) {
      try {
        // Woken by the pods table's commits; a namespace arriving later is looked at then too.
        return await waitFor(
          db,
          pods,
          () => lookup(ns, name, uid),
          p.podWaitMs ?? POD_WAIT_MS,
          () => new Error('timeout'),
          signal,
        );
      } catch (e) {
        if (signal?.aborted) throw e;
        const meta = lookup(ns, name, uid);
        if (meta) return meta;
        p.logger.warn(
          { pod: `${ns}/${name}`, uid },
          'pod not in the Kubernetes cache: endpoint gets the init identity until it is',
        );
        return { labels: [INIT_LABEL], namedPorts: [], uid };
      }
    },
  };
}
