// Kubernetes mode: endpoints follow their pods. A pod's or its namespace's labels change → each
// of its endpoints gets its new identity labels (a new identity, policy recomputed, the datapath
// regenerated in place). A new or restored endpoint is compared with its pod as soon as it is in
// the table, so a change that came while it was being created is not missed. A pod deleted from
// the API server changes nothing: the CNI's DEL deletes the endpoint, as in Cilium.
import { filter } from 'rxjs';
import { ApiError } from '../../core/api/index.js';
import {
  backoffDelay,
  Trigger,
  type Health,
  type Jobs,
  type Logger,
} from '../../core/hive/index.js';
import type { DB, ReadTxn, Table } from '../../core/statedb/index.js';
import { objectKey, type K8sResources } from '../k8s/index.js';
import type { PodMetadata } from './k8s-labels.js';
import type { K8sEndpointMetadata } from './k8s-metadata.js';
import type { EndpointManager } from './manager.js';
import type { Endpoint } from './model.js';
import { endpointKey } from './table.js';

/** What the pod label sync needs. */
export interface PodSyncParams {
  readonly db: DB;
  readonly endpoints: Table<Endpoint>;
  readonly resources: K8sResources;
  readonly meta: K8sEndpointMetadata;
  readonly m: EndpointManager;
  readonly jobs: Jobs;
  readonly logger: Logger;
  readonly health: Health;
}

/** Whether the endpoint already has what `meta` gives it. */
export function upToDate(ep: Endpoint, meta: PodMetadata): boolean {
  return (
    (ep.k8sLabels ?? []).join() === meta.labels.join() &&
    JSON.stringify(ep.namedPorts ?? []) === JSON.stringify(meta.namedPorts) &&
    (ep.k8sUid !== '' || meta.uid === '')
  );
}

const RETRY = { minMs: 100, maxMs: 30_000 };

/** Registers the job that keeps endpoints' pod labels current. */
export function registerPodSync(p: PodSyncParams): void {
  const pods = p.resources.pods.table;
  const namespaces = p.resources.namespaces.table;
  p.jobs.oneShot('k8s-pod-labels', async (ctx) => {
    const podIt = pods.changes();
    const nsIt = namespaces.changes();
    const epIt = p.endpoints.changes();
    const trigger = new Trigger();
    const names = new Set([pods.name, namespaces.name, p.endpoints.name]);
    const sub = p.db.commits$
      .pipe(filter((changed) => [...changed].some((n) => names.has(n))))
      .subscribe(() => {
        trigger.poke();
      });
    const failing = new Map<number, { attempt: number; due: number; error: string }>();
    const report = (): void => {
      const first = [...failing][0];
      if (first) {
        ctx.health.degraded(
          `${failing.size} endpoints wait for their pod labels (endpoint ${first[0]}: ${first[1].error})`,
        );
      } else ctx.health.ok('endpoints carry their pods’ labels');
    };

    /** Brings endpoint `id` to its pod's labels; remembers a failure for a retry. */
    const sync = async (id: number): Promise<void> => {
      const ep = p.endpoints.get(p.db.readTxn(), endpointKey(id));
      // Pod gone, malformed or not here yet: the endpoint keeps what it has.
      const meta = ep?.k8sPodName ? p.meta.lookup(ep.k8sNamespace, ep.k8sPodName) : undefined;
      // Another pod of the same name (a StatefulSet's next one): not this endpoint's.
      if (!ep || !meta || (ep.k8sUid !== '' && meta.uid !== '' && ep.k8sUid !== meta.uid)) {
        failing.delete(id);
        return;
      }
      if (upToDate(ep, meta)) {
        failing.delete(id);
        return;
      }
      try {
        await p.m.setPodMetadata(id, meta);
        p.logger.info(
          { endpoint: id, pod: `${ep.k8sNamespace}/${ep.k8sPodName}`, labels: meta.labels },
          'endpoint labels updated from its pod',
        );
        failing.delete(id);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          failing.delete(id); // deleted meanwhile
          return;
        }
        const attempt = (failing.get(id)?.attempt ?? -1) + 1;
        const error = e instanceof Error ? e.message : String(e);
        failing.set(id, { attempt, due: Date.now() + backoffDelay(RETRY, attempt), error });
        p.logger.warn({ endpoint: id, err: e }, 'endpoint labels could not follow its pod');
      }
    };

    const affected = (txn: ReadTxn): Set<number> => {
      const ids = new Set<number>();
      for (const c of podIt.next(txn)) {
        if (c.deleted) continue;
        for (const ep of p.endpoints.listBy(txn, 'pod-name', objectKey(c.object))) ids.add(ep.id);
      }
      for (const c of nsIt.next(txn)) {
        if (c.deleted) continue;
        const prefix = `${c.object.metadata.name}/`;
        for (const ep of p.endpoints.prefix(txn, prefix, 'pod-name')) ids.add(ep.id);
      }
      for (const c of epIt.next(txn)) {
        if (!c.deleted && c.object.k8sPodName !== '') ids.add(c.object.id);
      }
      const now = Date.now();
      for (const [id, f] of failing) if (f.due <= now) ids.add(id);
      return ids;
    };

    try {
      while (!ctx.signal.aborted) {
        for (const id of affected(p.db.readTxn())) {
          await sync(id);
        }
        report();
        const next = Math.min(...[...failing.values()].map((f) => f.due), Date.now() + 3_600_000);
        await trigger.wait(Math.max(0, next - Date.now()), ctx.signal);
      }
    } finally {
      sub.unsubscribe();
      podIt.close();
      nsIt.close();
      epIt.close();
    }
  });
}
