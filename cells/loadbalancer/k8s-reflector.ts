// Kubernetes mode: the reflected Services and EndpointSlices (and this node's zone) written into
// the load balancer through the Writer, as Cilium's pkg/loadbalancer/reflectors. Changes that
// arrive together go in one Writer transaction; the first one, once both resources are synced,
// writes everything and completes the frontends table's `k8s-services` initializer, so the
// reconciler prunes what the previous run left only then (nothing that still exists flaps).
// The last good translation of every object is kept: a bad update is refused with a log line and
// a health note, and what was written from the object before stays.
import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import { errorMessage } from '../../core/hive/index.js';
import type { ChangeIterator, DB, WriteTxn } from '../../core/statedb/index.js';
import { objectKey, type K8sAccess, type K8sObject, type K8sResources } from '../k8s/index.js';
import { addrKey } from './model.js';
import { K8S_SOURCE, translateService, type K8sService } from './k8s-translate.js';
import { backendsOf, translateSlice, ZONE_LABEL, type K8sSlice } from './k8s-slices.js';
import type { LbTables } from './tables.js';
import type { LbWriteTxn, LbWriter } from './writer.js';

/** What the reflector needs. */
export interface K8sServicesParams {
  readonly db: DB;
  readonly resources: K8sResources;
  readonly writer: LbWriter;
  readonly tables: LbTables;
  /** --node-name: the node whose zone topology aware services prefer. */
  readonly nodeName: string;
  /** Whether NodePort frontends are served (--enable-node-port, kube-proxy replacement). */
  readonly nodePort: boolean;
  /** --enable-service-topology. */
  readonly topology: boolean;
  readonly health: Health;
  readonly logger: Logger;
}

/** The reflector at run time. */
export interface K8sServices {
  /** Waits for the resources' first sync, writes everything, then follows changes. */
  start(): void;
  stop(): void;
  /** Resolves once the first sync is in the load balancer's tables. */
  readonly synced: Promise<void>;
  /** Objects refused (`Service ns/name` → why) and frontends another service holds. */
  problems(): ReadonlyMap<string, string>;
}

/** Problems named in health, at most (the rest counted). */
const SHOWN = 5;

const heldText = (held: readonly string[]): string =>
  `frontend ${held.join(', ')} held by another service, not written until it is free`;

/** Registers the `k8s-services` initializer of the frontends table and returns the reflector. */
export function newK8sServices(p: K8sServicesParams): K8sServices {
  const { db, resources, writer, tables } = p;
  const initDone = db.update([tables.frontends], (w) =>
    w.registerInitializer(tables.frontends, 'k8s-services'),
  );
  const services = new Map<string, K8sService>();
  const slices = new Map<string, K8sSlice>();
  const slicesOf = new Map<string, Set<string>>();
  const problems = new Map<string, string>();
  /** Services with frontends another service holds: the keys they wait for, and whose they are. */
  const blocked = new Map<string, { keys: string[]; held: string[] }>();
  let zone = '';
  let first = true;
  let stopped = false;
  let scheduled = false;
  const abort = new AbortController();
  let unsubscribe: (() => void) | undefined;
  let iters: ChangeIterator<K8sObject>[] = [];
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => {
    resolveSynced = r;
  });

  const refuse = (what: string, problem: string): void => {
    if (problems.get(what) === problem) return;
    problems.set(what, problem);
    p.logger.warn({ object: what, problem }, `Kubernetes ${what} skipped: ${problem}`);
  };

  const report = (): void => {
    if (first) return;
    // The services translated (a Service waiting for a frontend is counted, and named below).
    const n = services.size;
    const all = [...problems].map(([k, v]) => `${k}: ${v}`);
    for (const [k, b] of blocked) all.push(`Service ${k}: ${heldText(b.held)}`);
    if (all.length === 0) {
      p.health.ok(`${n} services from Kubernetes`);
      return;
    }
    const more = all.length > SHOWN ? `; and ${all.length - SHOWN} more` : '';
    p.health.degraded(
      `${n} services from Kubernetes; skipped ${all.length}: ${all.slice(0, SHOWN).join('; ')}${more}`,
    );
  };

  /** Reads what changed in the reflected tables into the caches; returns the services touched. */
  const collect = (dirty: Set<string>): void => {
    const txn = db.readTxn();
    const [svcIt, sliceIt, nodeIt] = iters;
    for (const c of svcIt?.next(txn) ?? []) {
      const key = objectKey(c.object);
      const what = `Service ${key}`;
      if (c.deleted) {
        problems.delete(what);
        if (services.delete(key)) dirty.add(key);
        continue;
      }
      const t = translateService(c.object, { nodePort: p.nodePort });
      if (t.kind === 'invalid') {
        refuse(what, t.problem);
        continue;
      }
      problems.delete(what);
      if (t.kind === 'ok') services.set(key, t.value);
      else services.delete(key);
      dirty.add(key);
    }
    for (const c of sliceIt?.next(txn) ?? []) {
      const key = objectKey(c.object);
      const what = `EndpointSlice ${key}`;
      const before = slices.get(key);
      const t = c.deleted ? undefined : translateSlice(c.object);
      if (t?.kind === 'invalid') {
        refuse(what, t.problem);
        continue;
      }
      problems.delete(what);
      if (before) {
        slicesOf.get(before.serviceKey)?.delete(key);
        dirty.add(before.serviceKey);
      }
      if (t?.kind === 'ok') {
        slices.set(key, t.value);
        let set = slicesOf.get(t.value.serviceKey);
        if (!set) slicesOf.set(t.value.serviceKey, (set = new Set()));
        set.add(key);
        dirty.add(t.value.serviceKey);
      } else slices.delete(key);
    }
    if (nodeIt) {
      const changes = nodeIt.next(txn);
      if (changes.some((c) => c.object.metadata.name === p.nodeName)) {
        const node = resources.nodes.table.get(txn, p.nodeName);
        const z = node?.metadata.labels?.[ZONE_LABEL] ?? '';
        if (z !== zone) {
          zone = z;
          for (const [k, s] of services) if (s.topologyAware) dirty.add(k);
        }
      }
    }
  };

  /** Writes one service as the caches have it (or removes it). */
  const sync = (t: LbWriteTxn, key: string): void => {
    const w = t.txn;
    const svc = services.get(key);
    const row = tables.services.get(w, key);
    if (!svc) {
      blocked.delete(key);
      if (row?.source === K8S_SOURCE) t.deleteService(key);
      return;
    }
    t.upsertService(svc.service);
    const mine = new Set<string>();
    const keys: string[] = [];
    const held: string[] = [];
    for (const fe of svc.frontends) {
      const k = addrKey(fe.address);
      const other = tables.frontends.get(w, k);
      if (other && other.serviceKey !== key) {
        keys.push(k);
        held.push(
          `${k} (${other.service.source === 'api' ? `REST API service ${other.id}` : `Service ${other.serviceKey}`})`,
        );
        continue;
      }
      t.upsertFrontend(fe);
      mine.add(k);
    }
    for (const f of tables.frontends.listBy(w, 'service', key)) {
      if (!mine.has(f.key)) t.deleteFrontend(f.key);
    }
    const bes = backendsOf(
      svc,
      [...(slicesOf.get(key) ?? [])].flatMap((k) => slices.get(k) ?? []),
      { zone, topology: p.topology },
    );
    const stale = new Set<string>();
    for (const b of tables.backends.listBy(w, 'service', key)) {
      for (const i of b.instances)
        if (i.serviceKey === key && !bes.has(i.portName)) stale.add(i.portName);
    }
    for (const name of stale) t.setBackends(key, name, []);
    for (const [name, list] of bes) t.setBackends(key, name, list);
    const was = blocked.get(key);
    if (keys.length === 0) blocked.delete(key);
    else {
      blocked.set(key, { keys, held });
      if (was?.held.join() !== held.join()) {
        p.logger.warn(
          { service: key, frontends: held },
          `Kubernetes Service ${key}: ${heldText(held)}`,
        );
      }
    }
  };

  const complete = (w: WriteTxn): void => {
    if (!first) return;
    initDone(w);
  };

  /** Writes the services touched, in one transaction; one by one when that one is refused. */
  const apply = (dirty: ReadonlySet<string>): void => {
    try {
      writer.update((t) => {
        for (const key of dirty) sync(t, key);
        complete(t.txn);
      });
    } catch (e) {
      p.logger.warn(
        { error: errorMessage(e) },
        'Kubernetes services: a batch was refused, writing them one by one',
      );
      for (const key of dirty) {
        try {
          writer.update((t) => {
            sync(t, key);
          });
          problems.delete(`Service ${key}`);
        } catch (err) {
          refuse(`Service ${key}`, errorMessage(err));
        }
      }
      writer.update((t) => {
        complete(t.txn);
      });
    }
    if (first) {
      first = false;
      resolveSynced();
    }
  };

  const flush = (): void => {
    scheduled = false;
    if (stopped) return;
    const dirty = new Set<string>();
    collect(dirty);
    // Services waiting for a frontend another service held, now free.
    const ftx = db.readTxn();
    for (const [key, b] of blocked) {
      if (b.keys.some((k) => tables.frontends.get(ftx, k) === undefined)) dirty.add(key);
    }
    if (dirty.size > 0 || first) apply(dirty);
    report();
  };

  const schedule = (): void => {
    if (scheduled || stopped || first) return;
    scheduled = true;
    // Everything committed meanwhile (a burst of watch events) lands in one transaction.
    setImmediate(flush);
  };

  const watched = new Set([
    resources.services.table.name,
    resources.endpointSlices.table.name,
    ...(p.topology ? [resources.nodes.table.name] : []),
  ]);

  return {
    synced,
    problems: () => {
      const out = new Map(problems);
      for (const [k, b] of blocked) out.set(`Service ${k}`, heldText(b.held));
      return out;
    },
    start() {
      iters = [
        resources.services.table.changes(),
        resources.endpointSlices.table.changes(),
        ...(p.topology ? [resources.nodes.table.changes()] : []),
      ] as ChangeIterator<K8sObject>[];
      const sub = db.commits$.subscribe((names) => {
        if ([...names].some((n) => watched.has(n))) schedule();
        else if (blocked.size > 0 && names.has(tables.frontends.name)) schedule();
      });
      unsubscribe = () => {
        sub.unsubscribe();
      };
      p.health.ok(`waiting for Services and EndpointSlices to sync`);
      const waits = [
        resources.services.waitSynced(abort.signal),
        resources.endpointSlices.waitSynced(abort.signal),
        ...(p.topology ? [resources.nodes.waitSynced(abort.signal)] : []),
      ];
      Promise.all(waits).then(
        () => {
          if (stopped) return;
          flush();
        },
        (e: unknown) => {
          if (!stopped)
            p.logger.error(
              { error: errorMessage(e) },
              'Kubernetes services: waiting for the sync failed',
            );
        },
      );
    },
    stop() {
      stopped = true;
      abort.abort(new Error('stopping'));
      unsubscribe?.();
      for (const it of iters) it.close();
      iters = [];
    },
  };
}

/** What registering the reflector needs (the cell's invoke). */
export interface RegisterK8sServicesParams extends Omit<K8sServicesParams, 'resources'> {
  /** Absent when the hive has no Kubernetes cell; not enabled in embedded mode. */
  readonly resources: K8sResources | undefined;
  readonly access: K8sAccess | undefined;
  readonly lifecycle: Lifecycle;
}

/**
 * Declares the access the reflector's resources need (always, so the chart's ClusterRole has
 * it) and, in Kubernetes mode, runs the reflector between start and stop.
 */
export function registerK8sServices(p: RegisterK8sServicesParams): K8sServices | undefined {
  p.access?.declare({
    group: '',
    resource: 'services',
    verbs: ['list', 'watch'],
    why: 'loadbalancer: Services are the frontends of the load balancer',
  });
  p.access?.declare({
    group: 'discovery.k8s.io',
    resource: 'endpointslices',
    verbs: ['list', 'watch'],
    why: "loadbalancer: EndpointSlices are the services' backends",
  });
  const { resources } = p;
  if (!resources?.enabled) return undefined;
  const r = newK8sServices({ ...p, resources });
  p.lifecycle.append(
    {
      onStart: () => {
        r.start();
      },
      onStop: () => {
        r.stop();
      },
    },
    'k8s-services',
  );
  return r;
}
