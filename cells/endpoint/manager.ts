import { ApiError, Gate, shown, type Model } from '../../core/api/index.js';
import { StateWriteError } from '../../core/atomic-file.js';
import { token, type Health, type Logger } from '../../core/hive/index.js';
import { statusPending, type Status } from '../../core/reconciler/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import {
  IdentityError,
  IdentityLabelsError,
  IdentityUnavailableError,
  type Identity,
  type IdentityAllocator,
} from '../identity/index.js';
import type { IpcacheWriter } from '../ipcache/index.js';
import { IPAM_STATUS, IpamError, type Ipam } from '../ipam/index.js';
import type { EndpointRef } from './ids.js';
import {
  bumpRevision,
  endpointDebug,
  endpointIps,
  owner,
  requestRegeneration,
  securityLabels,
  transition,
  type Endpoint,
  type PersistedEndpoint,
  DEFAULT_ENDPOINT_OPTIONS,
} from './model.js';
import { checkOptions, claimIps, conflicts, undoAll } from './claims.js';
import { checkChange, fromRequest } from './request.js';
import { restoreEndpoints, type RestoreOutcome, type RestoreProgress } from './restore.js';
import type { RestoreClock } from './restore-split.js';
import { InvalidStateError, type EndpointStore } from './store.js';
import type { EndpointPolicyStatus } from './policy-status.js';
import { waitRealized } from './sync.js';
import { endpointKey } from './table.js';
import { checkLabels, checkRequest, type HostLinks } from './validate.js';
import type { PodMetadata } from './k8s-labels.js';
import type { K8sEndpointMetadata } from './k8s-metadata.js';

/** Creates, finds, changes and deletes endpoints; restores them at start. */
export interface EndpointManager {
  readonly table: Table<Endpoint>;
  /**
   * Creates an endpoint (PUT). `opts.agent`: an endpoint of the agent's own (the health
   * endpoint), whose labels may be reserved ones (`reserved:health`), which clients never set.
   */
  create(
    ref: EndpointRef,
    req: Model<'EndpointChangeRequest'>,
    opts?: { readonly agent?: boolean },
  ): Promise<Endpoint>;
  find(ref: EndpointRef): Endpoint | undefined;
  list(): Endpoint[];
  /** Applies a change request to an existing endpoint (deprecated PATCH). */
  update(ref: EndpointRef, req: Model<'EndpointChangeRequest'>): Promise<Endpoint>;
  setUserLabels(ref: EndpointRef, labels: readonly string[]): Promise<Endpoint>;
  /**
   * Kubernetes mode: what the endpoint's pod gives it (labels, named ports, uid), through the
   * same path as user labels: a new identity when its labels change, the old one released, the
   * endpoint regenerated in place.
   */
  setPodMetadata(id: number, meta: PodMetadata): Promise<Endpoint>;
  /**
   * PATCH .../config: applies options (Cilium's endpoint option library) and regenerates the
   * endpoint when they change or it is not healthy; without options (Cilium's `endpoint
   * regenerate`) it always regenerates. Resolves once the regeneration is done.
   */
  configure(ref: EndpointRef, options?: Readonly<Record<string, string>>): Promise<Endpoint>;
  /** Deletes an endpoint and frees its IPs and identity; returns the number of errors. */
  delete(ref: EndpointRef): Promise<number>;
  /** Deletes every endpoint of a container; returns how many, and the number of errors. */
  deleteContainer(containerId: string): Promise<{ deleted: number; errors: number }>;
  /**
   * Restores persisted endpoints; writes wait until it is done. If it fails (or `signal` stops
   * it) writes stay refused: nothing may be allocated over a half-restored state. `clock`
   * times its phases.
   */
  restore(signal?: AbortSignal, clock?: RestoreClock): Promise<RestoreOutcome>;
  /** While restore runs (or after it failed): how far it got, for readiness. */
  restoring(): RestoreProgress | undefined;
  /**
   * The clock of the last restore: the datapath adds its attach time to it while it runs; its
   * `split` is where the restart's time went, once every restored endpoint is reconciled.
   */
  restoreClock(): RestoreClock | undefined;
}

/** The endpoint manager. */
export const EndpointManager = token<EndpointManager>('endpoint/EndpointManager');

/** What the endpoint manager needs. */
export interface ManagerParams {
  readonly db: DB;
  readonly table: Table<Endpoint>;
  readonly store: EndpointStore;
  readonly ipam: Ipam;
  readonly ids: IdentityAllocator;
  readonly ipcache: IpcacheWriter;
  readonly health: Health;
  readonly logger: Logger;
  /** How long a synchronous build may take before PUT answers 500. */
  readonly syncTimeoutMs: number;
  /** The devices of the agent's network namespace. */
  readonly links: HostLinks;
  /** Where a synchronous build also waits for the endpoint's policy (the policy cell's). */
  readonly policy?: EndpointPolicyStatus;
  /** Kubernetes mode: pods' labels for new endpoints; restore waits for these caches. */
  readonly k8s?: K8sEndpointMetadata;
}

const MAX_ID = 65535;
/** How often a change re-plans when concurrent changes keep relabelling its endpoint. */
const MAX_RELABEL_ATTEMPTS = 5;

/**
 * The reconciler's status written back: a built endpoint becomes ready (its revision realized),
 * a failed one not-ready. `steps` are what the datapath did, logged when the endpoint's Debug
 * option is on.
 */
export function withStatus(ep: Endpoint, status: Status, steps: readonly string[] = []): Endpoint {
  const next = { ...ep, status };
  if (status.kind === 'done' && ep.state !== 'ready' && ep.state !== 'disconnecting') {
    let out: Endpoint = { ...next, policyRevision: ep.revision ?? (ep.policyRevision ?? 0) + 1 };
    if (endpointDebug(ep)) {
      for (const step of steps) out = transition(out, ep.state, `debug: ${step}`);
    }
    const what = ep.ifName === '' ? 'endpoint map written' : `datapath realized on ${ep.ifName}`;
    return transition(
      out,
      'ready',
      `Completed endpoint regeneration with no pending regeneration requests (${what}, revision ${out.policyRevision ?? 0})`,
    );
  }
  const failed = `regeneration failed: ${status.error ?? ''}`;
  if (status.kind === 'error' && ep.log.at(-1)?.message !== failed) {
    return transition(next, 'not-ready', failed, 'failed');
  }
  return next;
}

/** IPAM, identity and state failures of an endpoint write, as API errors naming the field. */
function asApiError(e: unknown): unknown {
  if (e instanceof IpamError) return new ApiError(IPAM_STATUS[e.kind], `addressing: ${e.message}`);
  // An identity store that cannot be reached is the cluster's trouble, not the request's.
  if (e instanceof IdentityUnavailableError) {
    return new ApiError(503, `identity: ${e.message}`, { 'Retry-After': '5' });
  }
  if (e instanceof IdentityLabelsError) return new ApiError(400, `labels: ${e.message}`);
  if (e instanceof IdentityError) return new ApiError(500, `labels: ${e.message}`);
  if (e instanceof InvalidStateError) return new ApiError(400, e.message);
  return e;
}

/** `ep` with what its pod gives it (unchanged without metadata); the request's uid wins. */
function withPod(ep: Endpoint, meta: PodMetadata | undefined): Endpoint {
  if (!meta) return ep;
  return {
    ...ep,
    k8sLabels: [...meta.labels],
    namedPorts: meta.namedPorts,
    k8sUid: ep.k8sUid !== '' ? ep.k8sUid : meta.uid,
  };
}

/** The endpoint manager over its StateDB table; the datapath reconciler realizes the table. */
export function newEndpointManager(p: ManagerParams): EndpointManager {
  const { db, table } = p;
  const txn = () => db.readTxn();
  const gate = new Gate();
  const openGate = gate.hold('restoring endpoints');
  const persistence = p.health.scope('persistence');
  let progress: RestoreProgress | undefined = { done: 0, total: 0 };
  let clock: RestoreClock | undefined;

  /** Every write waits here until restore is done (503 with Retry-After past 15 s). */
  const gated =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await gate.pass();
      return fn(...a);
    };
  const find = (ref: EndpointRef): Endpoint | undefined => {
    const r = txn();
    if (ref.kind === 'cilium-local') return table.get(r, endpointKey(ref.id));
    const index =
      ref.kind === 'cilium-global'
        ? 'container-id'
        : ref.kind === 'cep-name'
          ? 'pod-name'
          : ref.kind;
    return table.getBy(r, index, ref.value);
  };
  const must = (ref: EndpointRef): Endpoint => {
    const ep = find(ref);
    if (!ep) {
      const id = `${ref.kind}:${'id' in ref ? ref.id : ref.value}`;
      throw new ApiError(404, `endpoint ${shown(id)} not found`);
    }
    return ep;
  };
  const commit = (ep: Endpoint): void => {
    db.update([table], (w) => w.insert(table, ep));
  };
  const report = (): void => {
    const all = [...table.all(txn())];
    const ready = all.filter((e) => e.state === 'ready').length;
    p.health.ok(`${all.length} endpoints, ${ready} ready`);
  };
  const stateError = (id: number, what: string, e: unknown): never => {
    if (!(e instanceof StateWriteError)) throw e;
    p.logger.error({ endpoint: id, code: e.code, path: e.path }, `endpoint state: ${e.message}`);
    persistence.degraded(`endpoint ${id}: ${e.message}`, e);
    throw new ApiError(500, `endpoint ${id}: ${what}, nothing was changed: ${e.message}`);
  };
  /** Saves an endpoint durably before it is acknowledged (refusing what restore would not take). */
  const persist = (ep: PersistedEndpoint, created: boolean): void => {
    try {
      p.store.save(ep);
      persistence.ok('endpoint state is saved');
    } catch (e) {
      // The new file may be in place although its directory could not be synced: take it back.
      if (created && e instanceof StateWriteError && e.renamed) forgetQuietly(ep.id);
      stateError(ep.id, 'its state could not be saved', e);
    }
  };
  const forgetQuietly = (id: number): void => {
    try {
      p.store.remove(id);
    } catch (err) {
      p.logger.error({ endpoint: id, err }, 'endpoint state could not be removed');
    }
  };
  const freeId = (): number => {
    const r = txn();
    for (let id = 1; id <= MAX_ID; id++) if (!table.get(r, endpointKey(id))) return id;
    throw new ApiError(409, 'id: all endpoint ids (1-65535) are in use');
  };
  /** Publishes endpoints' IPs in the ipcache (one transaction). */
  const publish = (...eps: readonly Endpoint[]): void => {
    p.ipcache.upsertAll(
      eps.flatMap((ep) =>
        endpointIps(ep).map((ip) => ({
          prefix: ip,
          identity: ep.identity,
          source: 'local' as const,
          ...(ep.k8sNamespace ? { namespace: ep.k8sNamespace } : {}),
          ...(ep.k8sPodName ? { name: ep.k8sPodName } : {}),
        })),
      ),
    );
  };
  const identityOf = (ep: Endpoint): Identity | undefined => p.ids.get(ep.identity);

  const checkConflicts = (ep: Endpoint): void => {
    conflicts(table, txn(), ep);
  };
  const claim = (ep: Endpoint, ips: readonly string[]): (() => void)[] => claimIps(p.ipam, ep, ips);
  const assignIdentity = (ep: Endpoint, ident: Identity | undefined): Endpoint =>
    ident
      ? transition(
          { ...ep, identity: ident.id },
          'waiting-to-regenerate',
          `identity ${ident.id} (${ident.labels.join(',')}) assigned`,
        )
      : ep;
  /**
   * Runs a change that may need a new identity. The allocation may wait on the cluster, so it
   * comes first and the change is planned again after it, against the endpoints as they are
   * then (deleted, its id or IPs taken, relabelled meanwhile: `plan` throws, or needs other
   * labels and the allocation is redone). `apply` then runs synchronously; the identity is
   * released if planning or `apply` throws (apply's `guarded` runs `undo`).
   */
  const withIdentity = async <P>(
    plan: () => P,
    labelsOf: (planned: P) => readonly string[] | undefined,
    apply: (planned: P, ident: Identity | undefined, undo: (() => void)[]) => Endpoint,
  ): Promise<Endpoint> => {
    for (let attempt = 1; ; attempt++) {
      const labels = labelsOf(plan());
      if (!labels) return apply(plan(), undefined, []);
      let ident: Identity;
      try {
        ident = await p.ids.allocate(labels);
      } catch (e) {
        throw asApiError(e);
      }
      const undo = [() => void p.ids.release(ident)];
      let planned: P;
      try {
        planned = plan();
      } catch (e) {
        undoAll(undo);
        throw e;
      }
      if (labelsOf(planned)?.join() === labels.join()) return apply(planned, ident, undo);
      undoAll(undo);
      if (attempt >= MAX_RELABEL_ATTEMPTS) {
        throw new ApiError(
          409,
          'labels: the endpoint was changed concurrently while its identity was allocated; retry',
        );
      }
    }
  };
  /** Runs a change: every step is undone if one fails, nothing is kept half-done. */
  const guarded = <T>(undo: (() => void)[], fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      undoAll(undo);
      throw asApiError(e);
    }
  };

  /** Removes an endpoint everywhere; `freeIp` says how each of its IPs goes back to IPAM. */
  const remove = (ep: Endpoint, freeIp: (ip: string) => void): number => {
    let errors = 0;
    db.update([table], (w) => w.deleteKey(table, endpointKey(ep.id)));
    for (const ip of endpointIps(ep)) {
      try {
        p.ipcache.delete(ip);
        if (!ep.externalIpam) freeIp(ip);
      } catch (e) {
        errors++;
        p.logger.warn({ endpoint: ep.id, ip, err: e }, 'endpoint delete: cleanup failed');
      }
    }
    const ident = identityOf(ep);
    if (ident) p.ids.release(ident);
    report();
    return errors;
  };

  /**
   * A synchronous create failed: back to what the client is told (no endpoint, its IPs as the
   * client allocated them). Only once its state is gone from disk: otherwise the endpoint stays
   * (not ready) with its IPs, as a restart would bring it back.
   */
  const rollBack = (id: number, claimed: readonly string[], claims: (() => void)[]): void => {
    const cur = table.get(txn(), endpointKey(id));
    if (!cur) return; // deleted meanwhile: that delete freed everything
    try {
      p.store.remove(id);
    } catch (err) {
      p.logger.error({ endpoint: id, err }, 'failed create: state could not be removed; kept');
      persistence.degraded(`endpoint ${id}: its state could not be removed`, err);
      return;
    }
    const same = endpointIps(cur).join() === claimed.join();
    remove(cur, (ip) => (same ? undefined : p.ipam.unclaim(ip, owner(cur))));
    if (same) undoAll(claims); // the claims' undo restores the client's allocations
    p.logger.warn({ endpoint: id }, 'endpoint creation failed: rolled back');
  };

  const create = async (
    ref: EndpointRef,
    req: Model<'EndpointChangeRequest'>,
    opts: { readonly agent?: boolean } = {},
  ): Promise<Endpoint> => {
    checkRequest(req, true, opts.agent === true);
    if (ref.kind !== 'cilium-local') {
      throw new ApiError(
        400,
        'id: endpoints are created by numeric id (cilium-local:0 lets the agent choose)',
      );
    }
    if (ref.id !== 0 && req.id !== undefined && req.id !== 0 && req.id !== ref.id) {
      throw new ApiError(400, `id: the body's id ${req.id} is not the path's ${ref.id}`);
    }
    const reqId = ref.id !== 0 ? ref.id : (req.id ?? 0);
    const ns = req['k8s-namespace'] ?? '';
    const pod = req['k8s-pod-name'] ?? '';
    // Kubernetes mode: the pod's labels, merged with the request's (the pod's win).
    const meta =
      p.k8s && ns !== '' && pod !== ''
        ? await p.k8s.resolve(ns, pod, req['k8s-uid'] ?? '')
        : undefined;
    /** The endpoint as the request makes it, checked against the endpoints there are now. */
    const plan = (): Endpoint => {
      if (reqId !== 0 && table.get(txn(), endpointKey(reqId))) {
        throw new ApiError(409, `endpoint ${reqId} already exists`);
      }
      const ep = withPod(fromRequest(p.links, reqId, req), meta);
      checkConflicts(ep);
      return ep;
    };
    let claims: (() => void)[] = [];
    const ep = await withIdentity(plan, securityLabels, (planned, ident, undo) => {
      const ep = guarded(undo, () => {
        const first = transition(
          { ...planned, id: reqId !== 0 ? reqId : freeId() },
          'waiting-for-identity',
          'endpoint created',
        );
        claims = claim(first, endpointIps(first));
        undo.push(() => undoAll(claims));
        const next = transition(
          bumpRevision(assignIdentity(first, ident)),
          'regenerating',
          'Regenerating endpoint: endpoint was created',
        );
        persist(next, true);
        return next;
      });
      commit(ep);
      publish(ep);
      report();
      p.logger.info(
        { endpoint: ep.id, owner: owner(ep), ipv4: ep.ipv4, ipv6: ep.ipv6, identity: ep.identity },
        'endpoint created',
      );
      return ep;
    });
    if (!req['sync-build-endpoint']) return ep;
    try {
      const built = await waitRealized(db, table, ep.id, p.syncTimeoutMs);
      // Its policy enforced before the runtime starts the pod: no moment without it.
      await p.policy?.waitRealized(ep.id, p.syncTimeoutMs);
      return built;
    } catch (e) {
      rollBack(ep.id, endpointIps(ep), claims);
      throw e;
    }
  };

  const update = async (
    ref: EndpointRef,
    req: Model<'EndpointChangeRequest'>,
  ): Promise<Endpoint> => {
    checkRequest(req, false);
    const plan = () => {
      const old = must(ref);
      checkChange(old, req);
      const ep = fromRequest(p.links, old.id, req, old);
      if (endpointIps(ep).length === 0) {
        throw new ApiError(400, 'addressing: an endpoint needs an IPv4 or IPv6 address');
      }
      checkConflicts(ep);
      const relabel = securityLabels(ep).join() !== securityLabels(old).join();
      return { old, ep, relabel };
    };
    const relabelled = (x: ReturnType<typeof plan>) =>
      x.relabel ? securityLabels(x.ep) : undefined;
    const ep = await withIdentity(plan, relabelled, ({ old, ep: changed }, ident, undo) => {
      const before = endpointIps(old);
      const after = endpointIps(changed);
      const ep = guarded(undo, () => {
        const claims = claim(
          changed,
          after.filter((ip) => !before.includes(ip)),
        );
        undo.push(() => undoAll(claims));
        const next = transition(
          bumpRevision(assignIdentity(changed, ident)),
          'regenerating',
          'Regenerating endpoint: endpoint was changed via API',
        );
        persist(next, false);
        return next;
      });
      commit(ep);
      for (const ip of before.filter((x) => !after.includes(x))) {
        p.ipcache.delete(ip);
        if (!old.externalIpam) p.ipam.unclaim(ip, owner(old));
      }
      if (ident) {
        const prev = identityOf(old);
        if (prev) p.ids.release(prev);
      }
      publish(ep);
      return ep;
    });
    return req['sync-build-endpoint'] ? waitRealized(db, table, ep.id, p.syncTimeoutMs) : ep;
  };

  const setUserLabels = (ref: EndpointRef, labels: readonly string[]): Promise<Endpoint> => {
    checkLabels(labels, 'user');
    const plan = (): Endpoint => ({ ...must(ref), userLabels: [...labels] });
    return withIdentity(plan, securityLabels, (planned, ident, undo) => {
      const old = must(ref);
      const ep = guarded(undo, () => {
        const next = transition(
          bumpRevision(assignIdentity({ ...planned, status: statusPending() }, ident)),
          'regenerating',
          `Regenerating endpoint: user labels set to ${labels.join(',') || '(none)'}`,
        );
        persist(next, false);
        return next;
      });
      commit(ep);
      const prev = identityOf(old);
      if (prev) p.ids.release(prev);
      publish(ep);
      return ep;
    });
  };

  const setPodMetadata = (id: number, meta: PodMetadata): Promise<Endpoint> => {
    const ref: EndpointRef = { kind: 'cilium-local', id };
    const plan = () => {
      const old = must(ref);
      return { old, ep: withPod(old, meta) };
    };
    const relabelled = (x: ReturnType<typeof plan>) =>
      securityLabels(x.ep).join() !== securityLabels(x.old).join()
        ? securityLabels(x.ep)
        : undefined;
    return withIdentity(plan, relabelled, ({ old, ep: changed }, ident, undo) => {
      const ep = guarded(undo, () => {
        const next = ident
          ? transition(
              bumpRevision(assignIdentity({ ...changed, status: statusPending() }, ident)),
              'regenerating',
              'Regenerating endpoint: its pod labels changed',
            )
          : changed;
        persist(next, false);
        return next;
      });
      commit(ep);
      if (ident) {
        const prev = identityOf(old);
        if (prev) p.ids.release(prev);
        publish(ep);
      }
      return ep;
    });
  };

  const configure = async (
    ref: EndpointRef,
    options?: Readonly<Record<string, string>>,
  ): Promise<Endpoint> => {
    const old = must(ref);
    const changes = options === undefined ? new Map<string, string>() : checkOptions(old, options);
    const changed = [...changes].filter(([k, v]) => old.options[k] !== v);
    const healthy = old.state === 'ready' && old.status.kind === 'done';
    // As Cilium's: options that change nothing on a healthy endpoint regenerate nothing.
    if (options !== undefined && changed.length === 0 && healthy) return old;
    let ep: Endpoint = old;
    if (changed.length > 0) {
      // Only the changeable options are stored; names older agents stored are dropped.
      const kept = Object.fromEntries(
        Object.keys(DEFAULT_ENDPOINT_OPTIONS).map((k) => [
          k,
          changes.get(k) ?? old.options[k] ?? DEFAULT_ENDPOINT_OPTIONS[k] ?? '',
        ]),
      );
      ep = transition(
        { ...old, options: kept },
        old.state,
        `options changed: ${changed.map(([k, v]) => `${k}=${v}`).join(', ')}`,
      );
      guarded([], () => {
        persist(ep, false);
      });
    }
    const reason =
      options === undefined
        ? 'endpoint was manually regenerated via API'
        : 'endpoint was updated via API';
    ep = requestRegeneration(ep, reason);
    commit(ep);
    p.logger.info({ endpoint: ep.id, revision: ep.revision }, `regenerating endpoint: ${reason}`);
    return waitRealized(db, table, ep.id, p.syncTimeoutMs);
  };

  const deleteEndpoint = (ep: Endpoint): number => {
    try {
      p.store.remove(ep.id);
    } catch (e) {
      stateError(ep.id, 'its state could not be removed', e);
    }
    const errors = remove(ep, (ip) => {
      if (!p.ipam.unclaim(ip, owner(ep))) {
        p.logger.warn(
          { endpoint: ep.id, ip },
          'endpoint delete: IP was not held by this endpoint; left as is',
        );
      }
    });
    p.logger.info({ endpoint: ep.id, owner: owner(ep) }, 'endpoint deleted');
    return errors;
  };

  const mgr: EndpointManager = {
    table,
    create: gated(create),
    find,
    list: () => [...table.all(txn())],
    update: gated(update),
    setUserLabels: gated(setUserLabels),
    setPodMetadata: gated(setPodMetadata),
    configure: gated(configure),
    delete: gated((ref: EndpointRef) => Promise.resolve(deleteEndpoint(must(ref)))),
    deleteContainer: gated((containerId: string) => {
      const eps = [...table.all(txn())].filter((ep) => ep.containerId === containerId);
      let errors = 0;
      for (const ep of eps) errors += deleteEndpoint(ep);
      return Promise.resolve({ deleted: eps.length, errors });
    }),
    async restore(signal, c) {
      clock = c;
      let outcome: RestoreOutcome;
      try {
        if (p.k8s) {
          // As Cilium's start-up: the caches first, so restored endpoints get their pods' labels.
          progress = { done: 0, total: 0, waiting: p.k8s.caches };
          p.health.scope('restore').ok(`waiting for the ${p.k8s.caches} before restoring`);
          try {
            await p.k8s.waitSynced(signal);
          } catch (e) {
            // The agent stops while it waits: nothing was restored, nothing failed.
            if (signal?.aborted) return { degraded: false, message: 'stopped', restored: 0 };
            throw e;
          }
          progress = { done: 0, total: 0 };
        }
        outcome = await restoreEndpoints({
          ...p,
          ...(signal ? { signal } : {}),
          ...(c ? { clock: c } : {}),
          commit: (eps) => {
            db.update([table], (w) => {
              for (const ep of eps) w.insert(table, ep);
            });
            publish(...eps);
          },
          progress: (pr) => {
            progress = pr;
          },
        });
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        progress = { done: progress?.done ?? 0, total: progress?.total ?? 0, failed: why };
        p.logger.error(
          { err: e },
          'endpoint restore failed: endpoint and IPAM writes stay refused',
        );
        throw e;
      }
      if (signal?.aborted) return outcome;
      progress = undefined;
      openGate();
      report();
      return outcome;
    },
    restoring: () => progress,
    restoreClock: () => clock,
  };
  report();
  return mgr;
}
