// The one way into the load balancer's tables: services, frontends and backends change together
// in a transaction, ids are allocated there, and at its end every frontend of a service that
// changed gets its backends selected again and is marked for the reconciler.
import { token } from '../../core/hive/index.js';
import { statusPending } from '../../core/reconciler/index.js';
import type { DB, WriteTxn } from '../../core/statedb/index.js';
import { IdAllocator, IdError } from './ids.js';
import {
  addrKey,
  backendKey,
  compareBackends,
  isV6,
  type Backend,
  type BackendInstance,
  type BackendState,
  type Frontend,
  type FrontendBackend,
  type L3n4Addr,
  type L4Type,
  type Service,
  type ServiceType,
} from './model.js';
import type { LbTables } from './tables.js';

/** A frontend as a data source declares it; the Writer adds its id and backends. */
export interface FrontendParams {
  readonly address: L3n4Addr;
  readonly type: ServiceType;
  readonly serviceKey: string;
  readonly portName: string;
  /** The id the source asks for (the REST API's); 0 or absent: the Writer picks one. */
  readonly id?: number;
}

/** A backend of one service (and port name), as a data source declares it. */
export interface BackendParams {
  readonly ip: string;
  readonly port: number;
  readonly protocol: L4Type;
  readonly state: BackendState;
  readonly weight: number;
  readonly zone: string;
  readonly nodeName: string;
}

/** What the Writer refuses: the kind says which part of the request is at fault. */
export class LbWriteError extends Error {
  override name = 'LbWriteError';

  constructor(
    readonly kind: 'frontend' | 'backend' | 'service',
    message: string,
  ) {
    super(message);
  }
}

/** Changes inside one Writer transaction. */
export interface LbWriteTxn {
  readonly txn: WriteTxn;
  /** Inserts or replaces a service (its frontends are reconciled again when it changed). */
  upsertService(s: Service): Service;
  /** Deletes a service with its frontends and its backends' instances; false when absent. */
  deleteService(key: string): boolean;
  /** Inserts or replaces a frontend; throws LbWriteError('frontend') for an id conflict. */
  upsertFrontend(p: FrontendParams): Frontend;
  /** Deletes a frontend; its id is freed when the transaction commits. */
  deleteFrontend(key: string): Frontend | undefined;
  /** Sets the backends a service has under a port name (replacing that port name's). */
  setBackends(serviceKey: string, portName: string, backends: readonly BackendParams[]): void;
  /**
   * Sets the state of every backend at `ip` (and `port`, when not 0) in every service; returns
   * how many backends matched.
   */
  setBackendState(ip: string, port: number, state: BackendState): number;
}

/** How data sources (the REST API now, Kubernetes later) change the load balancer's state. */
export interface LbWriter {
  readonly tables: LbTables;
  /** Service ids (1-65535): frontends, and the node addresses NodePorts are expanded to. */
  readonly serviceIds: IdAllocator;
  /** Backend ids (1-4294967295). */
  readonly backendIds: IdAllocator;
  /**
   * Runs `fn` in one transaction; a throw aborts it, ids included. Returns what `fn` returns.
   * `beforeCommit` sees the tables as they will be committed, frontends' backends selected (to
   * save them); a throw there aborts too.
   */
  update<R>(fn: (t: LbWriteTxn) => R, beforeCommit?: (t: LbWriteTxn) => void): R;
}

/** The Writer. */
export const LbWriter = token<LbWriter>('loadbalancer/LbWriter');

function sameBackends(a: readonly FrontendBackend[], b: readonly FrontendBackend[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as FrontendBackend;
    const y = b[i] as FrontendBackend;
    if (
      x.key !== y.key ||
      x.id !== y.id ||
      x.state !== y.state ||
      x.weight !== y.weight ||
      x.zone !== y.zone ||
      x.nodeName !== y.nodeName
    ) {
      return false;
    }
  }
  return true;
}

function sameInstance(a: BackendInstance, b: BackendInstance): boolean {
  return (
    a.serviceKey === b.serviceKey &&
    a.portName === b.portName &&
    a.state === b.state &&
    a.weight === b.weight &&
    a.zone === b.zone &&
    a.nodeName === b.nodeName
  );
}

function sameServiceRow(a: Service, b: Service): boolean {
  return (
    a.key === b.key &&
    a.namespace === b.namespace &&
    a.name === b.name &&
    a.cluster === b.cluster &&
    a.source === b.source &&
    a.extTrafficPolicy === b.extTrafficPolicy &&
    a.intTrafficPolicy === b.intTrafficPolicy &&
    a.natPolicy === b.natPolicy &&
    a.healthCheckNodePort === b.healthCheckNodePort &&
    a.sessionAffinity === b.sessionAffinity &&
    a.sessionAffinityTimeoutSec === b.sessionAffinityTimeoutSec &&
    a.algorithm === b.algorithm &&
    a.sourceRanges.length === b.sourceRanges.length &&
    a.sourceRanges.every((c, i) => c === b.sourceRanges[i]) &&
    sameLabels(a.labels, b.labels)
  );
}

function sameLabels(
  a: Readonly<Record<string, string>> = {},
  b: Readonly<Record<string, string>> = {},
): boolean {
  const ka = Object.keys(a);
  return (
    ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k])
  );
}

/** Creates the Writer over the tables. */
export function newLbWriter(db: DB, tables: LbTables): LbWriter {
  const { services, frontends, backends } = tables;
  const serviceIds = new IdAllocator('service', 1, 0xffff);
  const backendIds = new IdAllocator('backend', 1, 0xffffffff);

  const update = <R>(fn: (t: LbWriteTxn) => R, beforeCommit?: (t: LbWriteTxn) => void): R => {
    const undo: (() => void)[] = [];
    const released: (() => void)[] = [];
    const dirty = new Set<string>();
    const acquire = (alloc: IdAllocator, key: string, want: number): number => {
      const had = alloc.lookup(key);
      const id = alloc.acquire(key, want);
      if (had === undefined) undo.push(() => alloc.release(key));
      return id;
    };

    const run = (w: WriteTxn): R => {
      const removeInstances = (
        serviceKey: string,
        keep: (b: Backend, i: BackendInstance) => boolean,
      ): void => {
        for (const b of backends.listBy(w, 'service', serviceKey)) {
          const instances = b.instances.filter((i) => i.serviceKey !== serviceKey || keep(b, i));
          if (instances.length === b.instances.length) continue;
          if (instances.length === 0) {
            w.delete(backends, b);
            released.push(() => {
              // Not if this transaction took the address up again (it holds the same id).
              if (!backends.get(db.readTxn(), b.key)) backendIds.release(b.key);
            });
          } else w.insert(backends, { ...b, instances });
        }
      };

      const t: LbWriteTxn = {
        txn: w,
        upsertService(s) {
          const old = services.get(w, s.key);
          if (old && sameServiceRow(old, s)) return old;
          w.insert(services, s);
          dirty.add(s.key);
          return s;
        },
        deleteService(key) {
          const old = services.get(w, key);
          if (!old) return false;
          for (const f of frontends.listBy(w, 'service', key)) t.deleteFrontend(f.key);
          removeInstances(key, () => false);
          w.delete(services, old);
          return true;
        },
        upsertFrontend(p) {
          const key = addrKey(p.address);
          const service = services.get(w, p.serviceKey);
          if (!service) {
            throw new LbWriteError('frontend', `service ${p.serviceKey} of ${key} does not exist`);
          }
          const old = frontends.get(w, key);
          if (
            old &&
            old.type === p.type &&
            old.serviceKey === p.serviceKey &&
            old.portName === p.portName &&
            (p.id === undefined || p.id === 0 || p.id === old.id)
          ) {
            dirty.add(p.serviceKey); // its backends are selected again at the end
            return old;
          }
          let id: number;
          try {
            id = acquire(serviceIds, key, p.id ?? 0);
          } catch (e) {
            if (e instanceof IdError) throw new LbWriteError('frontend', e.message);
            throw e;
          }
          const next: Frontend = {
            key,
            address: p.address,
            type: p.type,
            serviceKey: p.serviceKey,
            portName: p.portName,
            id,
            service,
            backends: old?.backends ?? [],
            status: statusPending(),
            ...(old?.realized ? { realized: old.realized } : {}),
          };
          if (old && old.serviceKey !== p.serviceKey) dirty.add(old.serviceKey);
          w.insert(frontends, next);
          dirty.add(p.serviceKey);
          return next;
        },
        deleteFrontend(key) {
          const old = frontends.get(w, key);
          if (!old) return undefined;
          w.delete(frontends, old);
          released.push(() => {
            if (!frontends.get(db.readTxn(), key)) serviceIds.release(key);
          });
          return old;
        },
        setBackends(serviceKey, portName, list) {
          if (!services.get(w, serviceKey)) {
            throw new LbWriteError('backend', `service ${serviceKey} does not exist`);
          }
          const wanted = new Set<string>();
          for (const b of list) {
            const key = backendKey(b.ip, b.port, b.protocol);
            if (wanted.has(key)) {
              throw new LbWriteError('backend', `backend ${key} is listed twice`);
            }
            wanted.add(key);
            const inst: BackendInstance = {
              serviceKey,
              portName,
              state: b.state,
              weight: b.weight,
              zone: b.zone,
              nodeName: b.nodeName,
            };
            const old = backends.get(w, key);
            if (old) {
              const at = old.instances.findIndex(
                (i) => i.serviceKey === serviceKey && i.portName === portName,
              );
              const cur = old.instances[at];
              if (cur && sameInstance(cur, inst)) continue;
              const instances = [...old.instances];
              if (at >= 0) instances[at] = inst;
              else instances.push(inst);
              w.insert(backends, { ...old, instances });
            } else {
              let id: number;
              try {
                id = acquire(backendIds, key, 0);
              } catch (e) {
                if (e instanceof IdError) throw new LbWriteError('backend', e.message);
                throw e;
              }
              w.insert(backends, {
                key,
                id,
                ip: b.ip,
                port: b.port,
                protocol: b.protocol,
                instances: [inst],
              });
            }
          }
          removeInstances(serviceKey, (b, i) => i.portName !== portName || wanted.has(b.key));
          dirty.add(serviceKey);
        },
        setBackendState(ip, port, state) {
          let n = 0;
          for (const b of [...backends.all(w)]) {
            if (b.ip !== ip || (port !== 0 && b.port !== port)) continue;
            n++;
            const instances = b.instances.map((i) => (i.state === state ? i : { ...i, state }));
            if (instances.every((i, k) => i === b.instances[k])) continue;
            w.insert(backends, { ...b, instances });
            for (const i of b.instances) dirty.add(i.serviceKey);
          }
          return n;
        },
      };
      const r = fn(t);
      refresh(w, dirty);
      beforeCommit?.(t);
      return r;
    };

    try {
      const r = db.update([services, frontends, backends], run);
      for (const f of released) f();
      return r;
    } catch (e) {
      for (const f of undo.reverse()) f();
      throw e;
    }
  };

  /** Selects the backends of every frontend of the services that changed. */
  const refresh = (w: WriteTxn, dirty: ReadonlySet<string>): void => {
    for (const serviceKey of dirty) {
      const service = services.get(w, serviceKey);
      const fes = frontends.listBy(w, 'service', serviceKey);
      if (!service || fes.length === 0) continue;
      const bes = backends.listBy(w, 'service', serviceKey);
      for (const fe of fes) {
        const selected: FrontendBackend[] = [];
        for (const b of bes) {
          for (const i of b.instances) {
            if (i.serviceKey !== serviceKey) continue;
            if (fe.portName !== '' && i.portName !== fe.portName) continue;
            // A dual-stack service's slices share port names: a frontend takes its family only.
            if (isV6(b.ip) !== isV6(fe.address.ip)) continue;
            selected.push({
              key: b.key,
              id: b.id,
              ip: b.ip,
              port: b.port,
              protocol: b.protocol,
              // Weight 0 takes a backend out of rotation whatever its state says (Cilium's).
              state: i.weight === 0 && i.state === 'active' ? 'maintenance' : i.state,
              weight: i.weight,
              zone: i.zone,
              nodeName: i.nodeName,
            });
            break;
          }
        }
        selected.sort(compareBackends);
        if (fe.service === service && sameBackends(fe.backends, selected)) continue;
        w.insert(frontends, { ...fe, service, backends: selected, status: statusPending() });
      }
    }
  };

  return { tables, serviceIds, backendIds, update };
}
