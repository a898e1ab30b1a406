// The services the REST API manages: GET/PUT/DELETE /v1/service. A change is checked whole,
// written through the Writer, made durable in its state file in the same transaction (a failed
// save changes nothing), and acknowledged once the reconciler has realized it in the maps; a
// change the maps cannot take (a full map) is undone and answered with the reason.
import { ApiError, shown, type Model } from '../../core/api/index.js';
import { StateWriteError } from '../../core/atomic-file.js';
import { token } from '../../core/hive/index.js';
import type { DB } from '../../core/statedb/index.js';
import type { Reconciler } from '../../core/reconciler/index.js';
import type { Frontend } from './model.js';
import {
  canonicalIp,
  INVALID_BACKEND,
  INVALID_FRONTEND,
  serviceModel,
  serviceRequest,
  storedSpec,
  frontendKeyOf,
  type ServiceRequest,
} from './spec.js';
import type { ServiceStore } from './store.js';
import { entryKeys } from './expand.js';
import { EXPANDS, type LbTables } from './tables.js';
import { LbWriteError, type LbWriteTxn, type LbWriter } from './writer.js';

type ServiceSpec = Model<'ServiceSpec'>;

/** The REST API's view of services. */
export interface ServiceManager {
  list(): Model<'Service'>[];
  /** Throws a 404 ApiError for an unknown id. */
  get(id: number): Model<'Service'>;
  /** Creates or replaces the service with this id; resolves true when it created it. */
  put(id: number, spec: ServiceSpec): Promise<boolean>;
  /** Deletes a service; throws a 404 ApiError for an unknown id. */
  delete(id: number): Promise<void>;
  /** Writes the services of the state file into the tables (at start). */
  load(requests: readonly ServiceRequest[]): void;
}

/** The REST API's view of services. */
export const ServiceManager = token<ServiceManager>('loadbalancer/ServiceManager');

/** What the manager needs. */
export interface ServiceManagerParams {
  readonly db: DB;
  readonly tables: LbTables;
  readonly writer: LbWriter;
  readonly store: ServiceStore;
  /** The frontends' reconciler, once the cell runs. */
  readonly reconciler: () => Reconciler | undefined;
  /** Why the API is not served now (starting, stopping), or undefined. */
  readonly unavailable: () => string | undefined;
  /** How long a PUT waits for its service to be realized. */
  readonly realizeTimeoutMs: number;
  /** The node's addresses (where a NodePort on 0.0.0.0 is). */
  readonly nodeAddresses: () => readonly string[];
  /** Told of each save: undefined when it was durable, else the error (health). */
  readonly onStateWrite?: (e?: StateWriteError) => void;
}

/**
 * Refuses (460) a frontend whose entries would be another frontend's: a NodePort on 0.0.0.0
 * also takes each node address, a two-scope frontend its internal entry. Frontends that expand
 * are few; each is expanded to compare.
 */
function checkOverlap(
  t: LbWriteTxn,
  tables: LbTables,
  req: ServiceRequest,
  nodeAddresses: readonly string[],
): void {
  const mine = { ...req.frontend, service: req.service };
  const own = frontendKeyOf(req);
  const keys = entryKeys(mine, nodeAddresses);
  for (const k of keys) {
    if (k === own) continue;
    const other = tables.frontends.get(t.txn, k);
    if (other && other.id !== req.id) {
      throw new ApiError(
        INVALID_FRONTEND,
        `frontend ${own} would also take ${k} (this node's address or its internal scope), which is service ${other.id}'s`,
      );
    }
  }
  const taken = new Set(keys);
  for (const f of tables.frontends.listBy(t.txn, 'expands', EXPANDS)) {
    if (f.id === req.id) continue;
    for (const k of entryKeys(f, nodeAddresses)) {
      if (k !== f.key && taken.has(k)) {
        throw new ApiError(
          INVALID_FRONTEND,
          `frontend ${own} is ${k}, which service ${f.id} (${f.key}) also takes (this node's address or its internal scope)`,
        );
      }
    }
  }
}

/**
 * Refuses a change to a service another source (Kubernetes) owns: that source would write it
 * back, and its owner is the cluster. 460 for a PUT (Cilium's code for a frontend in use), 403
 * Forbidden for a DELETE (a client's mistake, not the agent's failure).
 */
function notOurs(fe: Frontend, del = false): never {
  const who =
    fe.service.namespace !== '' ? `${fe.service.namespace}/${fe.service.name}` : fe.serviceKey;
  throw new ApiError(
    del ? 403 : INVALID_FRONTEND,
    `service ${fe.id} (${fe.key}) is ${who} from ${fe.service.source === 'k8s' ? 'Kubernetes' : fe.service.source}: the REST API cannot ${del ? 'delete' : 'change'} it; change it where it comes from`,
  );
}

/** Applies a request in a Writer transaction (with what it replaces cleaned up). */
function apply(t: LbWriteTxn, tables: LbTables, req: ServiceRequest): void {
  const w = t.txn;
  const byId = tables.frontends.getBy(w, 'id', String(req.id));
  const key = frontendKeyOf(req);
  if (byId && byId.key !== key) {
    throw new ApiError(
      INVALID_FRONTEND,
      `service id ${req.id} is already in use by ${byId.key}; delete it first or use another id`,
    );
  }
  const at = tables.frontends.get(w, key);
  if (at && at.id !== req.id) {
    throw new ApiError(
      INVALID_FRONTEND,
      `the service provided is already registered with ID ${at.id}, please use that ID instead of ${req.id}`,
    );
  }
  t.upsertService(req.service);
  if (at && at.serviceKey !== req.service.key) drop(t, tables, at, false);
  t.upsertFrontend(req.frontend);
  t.setBackends(req.service.key, req.frontend.portName, req.backends);
}

/** Removes a frontend's backends, and its service when no frontend is left. */
function drop(t: LbWriteTxn, tables: LbTables, fe: Frontend, deleteFrontend: boolean): void {
  if (deleteFrontend) t.deleteFrontend(fe.key);
  t.setBackends(fe.serviceKey, fe.portName, []);
  const left = tables.frontends
    .listBy(t.txn, 'service', fe.serviceKey)
    .filter((f) => f.key !== fe.key);
  if (left.length === 0) t.deleteService(fe.serviceKey);
}

/** Creates the manager. */
export function newServiceManager(p: ServiceManagerParams): ServiceManager {
  const { db, tables, writer } = p;

  const ready = (): void => {
    const why = p.unavailable();
    if (why !== undefined) throw new ApiError(503, why, { 'Retry-After': '1' });
  };

  /**
   * Saves the API services `ids` as the transaction has them (written, or removed when gone or
   * no longer the API's); every service when `ids` is not given (a change across services).
   */
  const save = (t: LbWriteTxn, ids?: readonly number[]): void => {
    const all = ids ?? [
      ...new Set([
        ...p.store.ids(),
        ...[...tables.frontends.all(t.txn)]
          .filter((f) => f.service.source === 'api')
          .map((f) => f.id),
      ]),
    ];
    p.store.write(
      all.map((id) => {
        const fe = tables.frontends.getBy(t.txn, 'id', String(id));
        return fe?.service.source === 'api' ? { id, spec: storedSpec(fe) } : { id };
      }),
    );
    p.onStateWrite?.();
  };

  const byId = (id: number): Frontend | undefined =>
    tables.frontends.getBy(db.readTxn(), 'id', String(id));

  /**
   * Runs a change (and the save of the services `ids`, or of all) in one transaction; Writer
   * refusals become 460/461.
   */
  const change = (fn: (t: LbWriteTxn) => void, ids?: readonly number[]): void => {
    try {
      writer.update(fn, (t) => save(t, ids));
    } catch (e) {
      if (e instanceof LbWriteError) {
        throw new ApiError(e.kind === 'backend' ? 461 : INVALID_FRONTEND, e.message);
      }
      if (e instanceof StateWriteError) {
        p.onStateWrite?.(e);
        throw new ApiError(
          500,
          `the service state could not be saved, nothing was changed: ${e.message}`,
        );
      }
      throw e;
    }
  };

  /**
   * Waits until frontend `key` is realized: resolves undefined when it is done, or with why not:
   * deleted meanwhile, failed in a way retrying cannot fix (its status says `permanent`), or
   * still pending after the timeout (it stays desired and is retried).
   */
  const realized = (key: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      const settled = (): string | undefined | false => {
        const fe = tables.frontends.get(db.readTxn(), key);
        if (!fe) return 'it was deleted meanwhile';
        if (fe.status.kind === 'done') return undefined;
        if (fe.status.kind === 'error' && fe.status.permanent) return fe.status.error ?? 'failed';
        return false;
      };
      const finish = (why: string | undefined): void => {
        sub.unsubscribe();
        clearTimeout(timer);
        resolve(why);
      };
      const sub = db.commits$.subscribe((names) => {
        const s = names.has(tables.frontends.name) ? settled() : false;
        if (s !== false) finish(s);
      });
      const timer = setTimeout(() => {
        const fe = tables.frontends.get(db.readTxn(), key);
        const now = fe?.status.error ?? fe?.status.kind ?? 'gone';
        finish(
          `not realized within ${p.realizeTimeoutMs} ms (${now}); it stays desired and is retried`,
        );
      }, p.realizeTimeoutMs);
      const s = settled();
      if (s !== false) finish(s);
    });

  /** Waits until the reconciler has taken every change so far (a deletion), at most the timeout. */
  const reconciledNow = async (): Promise<void> => {
    const r = p.reconciler();
    if (!r) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      r.waitUntilReconciled(tables.frontends.revision(db.readTxn())),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, p.realizeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
  };

  return {
    list() {
      return [...tables.frontends.all(db.readTxn())].sort((a, b) => a.id - b.id).map(serviceModel);
    },

    get(id) {
      const fe = byId(id);
      if (!fe) throw new ApiError(404, `id: service ${id} not found`);
      return serviceModel(fe);
    },

    async put(id, spec) {
      ready();
      if (spec.updateServices === true && (spec.id ?? 0) === 0) {
        updateStates(spec);
        return false;
      }
      const req = serviceRequest(id, spec);
      const before = byId(req.id);
      const theirs = before ?? tables.frontends.get(db.readTxn(), frontendKeyOf(req));
      if (theirs && theirs.service.source !== 'api') notOurs(theirs);
      change(
        (t) => {
          checkOverlap(t, tables, req, p.nodeAddresses());
          apply(t, tables, req);
        },
        [req.id],
      );
      const why = await realized(frontendKeyOf(req));
      if (why === undefined) return before === undefined;
      const fe = tables.frontends.get(db.readTxn(), frontendKeyOf(req));
      if (fe?.status.kind === 'error' && fe.status.permanent) {
        // Not realizable (a full map): put back what was there before.
        change(
          (t) => {
            const now = tables.frontends.get(t.txn, frontendKeyOf(req));
            if (now) drop(t, tables, now, true);
            if (before) apply(t, tables, serviceRequest(before.id, storedSpec(before)));
          },
          [req.id],
        );
        throw new ApiError(500, `service ${req.id} cannot be realized: ${why}`);
      }
      throw new ApiError(500, `service ${req.id}: ${why}`);
    },

    async delete(id) {
      ready();
      const fe = byId(id);
      if (!fe) throw new ApiError(404, `id: service ${id} not found`);
      if (fe.service.source !== 'api') notOurs(fe, true);
      change(
        (t) => {
          drop(t, tables, fe, true);
        },
        [id],
      );
      await reconciledNow();
    },

    load(requests) {
      writer.update((t) => {
        for (const req of requests) apply(t, tables, req);
      });
    },
  };

  /** PUT with updateServices: sets backend states across every service (Cilium's API). */
  function updateStates(spec: ServiceSpec): void {
    const list = spec['backend-addresses'] ?? [];
    if (list.length === 0)
      throw new ApiError(400, 'backend-addresses: name the backends to update');
    change((t) => {
      for (const [i, b] of list.entries()) {
        const ip = canonicalIp(b.ip);
        if (ip === undefined) {
          throw new ApiError(
            INVALID_BACKEND,
            `backend-addresses[${i}].ip: ${shown(b.ip)} is not an IP address`,
          );
        }
        const n = t.setBackendState(ip, b.port ?? 0, b.state ?? 'active');
        if (n === 0) {
          throw new ApiError(
            INVALID_BACKEND,
            `backend-addresses[${i}]: no service has a backend ${ip}${b.port ? ` port ${b.port}` : ''}`,
          );
        }
      }
    });
  }
}
