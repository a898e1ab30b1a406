import { ApiError, Gate, shown, type Model } from '../../core/api/index.js';
import { StateWriteError } from '../../core/atomic-file.js';
import { token, type Health, type Logger } from '../../core/hive/index.js';
import { parseIp } from '../../core/ip.js';
import { statusPending, type Status } from '../../core/reconciler/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import { IdentityError, type Identity, type IdentityAllocator } from '../identity/index.js';
import type { IpcacheWriter } from '../ipcache/index.js';
import { IPAM_STATUS, IpamError, type Ipam } from '../ipam/index.js';
import type { EndpointRef } from './ids.js';
import {
  ENDPOINT_OPTIONS,
  endpointIps,
  owner,
  securityLabels,
  transition,
  type Endpoint,
  type PersistedEndpoint,
} from './model.js';
import { restoreEndpoints, type RestoreProgress } from './restore.js';
import type { EndpointStore } from './store.js';
import { endpointKey } from './table.js';
import { checkInterface, checkPoolAddress, checkRequest, type LinkLookup } from './validate.js';

/** Creates, finds, changes and deletes endpoints; restores them at start. */
export interface EndpointManager {
  readonly table: Table<Endpoint>;
  create(ref: EndpointRef, req: Model<'EndpointChangeRequest'>): Promise<Endpoint>;
  find(ref: EndpointRef): Endpoint | undefined;
  list(): Endpoint[];
  /** Applies a change request to an existing endpoint (deprecated PATCH). */
  update(ref: EndpointRef, req: Model<'EndpointChangeRequest'>): Promise<Endpoint>;
  setUserLabels(ref: EndpointRef, labels: readonly string[]): Promise<Endpoint>;
  setOptions(ref: EndpointRef, options: Readonly<Record<string, string>>): Promise<Endpoint>;
  /** Deletes an endpoint and frees its IPs and identity; returns the number of errors. */
  delete(ref: EndpointRef): Promise<number>;
  /** Restores persisted endpoints; writes wait until it is done (or `signal` stops it). */
  restore(signal?: AbortSignal): Promise<void>;
  /** While restore runs: how far it got (readiness reports it). */
  restoring(): RestoreProgress | undefined;
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
  /** Devices of the agent's network namespace, by name. */
  readonly lookupLink: LinkLookup;
}

const MAX_ID = 65535;
const IMMUTABLE = [
  ['container-id', 'containerId'],
  ['k8s-namespace', 'k8sNamespace'],
  ['k8s-pod-name', 'k8sPodName'],
] as const;

/** The reconciler's status written back: a built endpoint becomes ready, a failed one not-ready. */
export function withStatus(ep: Endpoint, status: Status): Endpoint {
  const next = { ...ep, status };
  if (status.kind === 'done' && ep.state !== 'ready' && ep.state !== 'disconnecting') {
    return transition(next, 'ready', 'datapath realized: endpoint map written, bpf_lxc attached');
  }
  const failed = `regeneration failed: ${status.error ?? ''}`;
  if (status.kind === 'error' && ep.log.at(-1)?.message !== failed) {
    return transition(next, 'not-ready', failed, 'failed');
  }
  return next;
}

/** IPAM and identity failures of an endpoint write, as API errors naming the field. */
function asApiError(e: unknown): unknown {
  if (e instanceof IpamError) return new ApiError(IPAM_STATUS[e.kind], `addressing: ${e.message}`);
  if (e instanceof IdentityError) return new ApiError(500, `labels: ${e.message}`);
  return e;
}

function undoAll(undo: readonly (() => void)[]): void {
  for (const u of [...undo].reverse()) u();
}

/** The endpoint manager over its StateDB table; the datapath reconciler realizes the table. */
export function newEndpointManager(p: ManagerParams): EndpointManager {
  const { db, table } = p;
  const txn = () => db.readTxn();
  const gate = new Gate();
  const openGate = gate.hold('restoring endpoints');
  const persistence = p.health.scope('persistence');
  let progress: RestoreProgress | undefined = { done: 0, total: 0 };

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
      throw new ApiError(
        404,
        `endpoint ${shown(`${ref.kind}:${'id' in ref ? ref.id : ref.value}`)} not found`,
      );
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
  /** Saves an endpoint durably before it is acknowledged. */
  const persist = (ep: PersistedEndpoint): void => {
    try {
      p.store.save(ep);
      persistence.ok('endpoint state is saved');
    } catch (e) {
      stateError(ep.id, 'its state could not be saved', e);
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

  /** Refuses what another endpoint already has: its IPs, attachment or host interface. */
  const checkConflicts = (ep: Endpoint): void => {
    const r = txn();
    for (const ip of endpointIps(ep)) {
      const other = table.getBy(r, 'ip', ip);
      if (other && other.id !== ep.id) {
        throw new ApiError(409, `${ip} is already used by endpoint ${other.id}`);
      }
    }
    const attach = ep.cniAttachmentId && table.getBy(r, 'cni-attachment-id', ep.cniAttachmentId);
    if (attach && attach.id !== ep.id) {
      throw new ApiError(
        409,
        `an endpoint for container ${ep.containerId} (${ep.cniAttachmentId}) already exists`,
      );
    }
    const iface = ep.ifName && table.getBy(r, 'interface', ep.ifName);
    if (iface && iface.id !== ep.id) {
      throw new ApiError(
        409,
        `interface-name: ${ep.ifName} is already used by endpoint ${iface.id}`,
      );
    }
  };
  /**
   * Claims an endpoint's new IPs from IPAM (refusing reserved or foreign ones) and returns the
   * undo of each claim; on failure the claims made so far are undone.
   */
  const claim = (ep: Endpoint, ips: readonly string[]): (() => void)[] => {
    const undo: (() => void)[] = [];
    if (ep.externalIpam) return undo;
    try {
      for (const ip of ips) {
        checkPoolAddress(p.ipam, ip, `addressing.${parseIp(ip)?.family ?? 'ip'}`);
        undo.push(p.ipam.claim(ip, owner(ep)));
      }
    } catch (e) {
      undoAll(undo);
      throw e;
    }
    return undo;
  };
  const assignIdentity = (ep: Endpoint, undo: (() => void)[]): Endpoint => {
    const ident = p.ids.allocate(securityLabels(ep));
    undo.push(() => p.ids.release(ident));
    return transition(
      { ...ep, identity: ident.id },
      'waiting-to-regenerate',
      `identity ${ident.id} (${ident.labels.join(',')}) assigned`,
    );
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

  /** Waits until the datapath of `id` is realized (sync-build-endpoint), woken by commits. */
  const realized = (id: number): Promise<Endpoint> =>
    new Promise((resolve, reject) => {
      const settled = (): boolean => {
        const ep = table.get(txn(), endpointKey(id));
        if (!ep) reject(new ApiError(500, `endpoint ${id} was deleted while it was being built`));
        else if (ep.status.kind === 'done') resolve(ep);
        else if (ep.status.kind === 'error' && ep.status.permanent) {
          reject(new ApiError(500, `endpoint ${id} could not be built: ${ep.status.error ?? ''}`));
        } else return false;
        return true;
      };
      if (settled()) return;
      const sub = db.commits$.subscribe((names) => {
        if (names.has(table.name) && settled()) finish();
      });
      const timer = setTimeout(() => {
        const why = table.get(txn(), endpointKey(id))?.status.error ?? 'still pending';
        reject(new ApiError(500, `endpoint ${id} was not built in time: ${why}`));
        finish();
      }, p.syncTimeoutMs);
      const finish = (): void => {
        sub.unsubscribe();
        clearTimeout(timer);
      };
    });

  const fromRequest = (
    id: number,
    req: Model<'EndpointChangeRequest'>,
    base?: Endpoint,
  ): Endpoint => {
    const ifName = req['interface-name'] ?? base?.ifName ?? '';
    const index = req['interface-index'];
    let ifIndex = index ?? base?.ifIndex ?? 0;
    if (ifName === '') {
      if (index !== undefined && index !== 0) {
        throw new ApiError(400, `interface-index: ${index} is given without an interface-name`);
      }
      ifIndex = 0;
    } else if (ifName !== base?.ifName || (index !== undefined && index !== base.ifIndex)) {
      ifIndex = checkInterface(p.lookupLink, ifName, index).ifIndex;
    }
    return {
      id,
      containerId: req['container-id'] ?? base?.containerId ?? '',
      containerName: req['container-name'] ?? base?.containerName ?? '',
      containerInterfaceName: req['container-interface-name'] ?? base?.containerInterfaceName ?? '',
      dockerEndpointId: req['docker-endpoint-id'] ?? base?.dockerEndpointId ?? '',
      cniAttachmentId:
        base?.cniAttachmentId ??
        (req['container-id']
          ? `${req['container-id']}:${req['container-interface-name'] ?? 'eth0'}`
          : ''),
      k8sNamespace: req['k8s-namespace'] ?? base?.k8sNamespace ?? '',
      k8sPodName: req['k8s-pod-name'] ?? base?.k8sPodName ?? '',
      k8sUid: req['k8s-uid'] ?? base?.k8sUid ?? '',
      ifName,
      ifIndex,
      mac: req.mac ?? base?.mac ?? '',
      hostMac: req['host-mac'] ?? base?.hostMac ?? '',
      ipv4: req.addressing?.ipv4 ?? base?.ipv4 ?? '',
      ipv6: req.addressing?.ipv6 ?? base?.ipv6 ?? '',
      labels: req.labels ?? base?.labels ?? [],
      userLabels: base?.userLabels ?? [],
      identity: base?.identity ?? 0,
      state: base?.state ?? 'waiting-for-identity',
      options: base?.options ?? ENDPOINT_OPTIONS,
      externalIpam: req['datapath-configuration']?.['external-ipam'] ?? base?.externalIpam ?? false,
      log: base?.log ?? [],
      createdAt: base?.createdAt ?? new Date().toISOString(),
      status: statusPending(),
    };
  };

  const mgr: EndpointManager = {
    table,
    async create(ref, req) {
      await gate.pass();
      checkRequest(req, true);
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
      if (reqId !== 0 && table.get(txn(), endpointKey(reqId))) {
        throw new ApiError(409, `endpoint ${reqId} already exists`);
      }
      let ep = fromRequest(reqId, req);
      checkConflicts(ep);
      ep = transition(
        { ...ep, id: reqId !== 0 ? reqId : freeId() },
        'waiting-for-identity',
        'endpoint created',
      );
      const undo: (() => void)[] = [];
      let claims: (() => void)[] = [];
      ep = guarded(undo, () => {
        claims = claim(ep, endpointIps(ep));
        undo.push(() => undoAll(claims));
        const next = transition(
          assignIdentity(ep, undo),
          'regenerating',
          'regenerating: writing the endpoint map and attaching bpf_lxc',
        );
        persist(next);
        return next;
      });
      commit(ep);
      publish(ep);
      report();
      p.logger.info(
        { endpoint: ep.id, owner: owner(ep), ipv4: ep.ipv4, ipv6: ep.ipv6, identity: ep.identity },
        'endpoint created',
      );
      if (!req['sync-build-endpoint']) return ep;
      const claimed = endpointIps(ep);
      try {
        return await realized(ep.id);
      } catch (e) {
        // Rolled back to what the client is told: no endpoint, its IPs back as they were.
        const cur = table.get(txn(), endpointKey(ep.id));
        if (cur) {
          try {
            p.store.remove(cur.id);
          } catch (err) {
            p.logger.error({ endpoint: cur.id, err }, 'rollback: state could not be removed');
          }
          const same = endpointIps(cur).join() === claimed.join();
          remove(cur, (ip) => (same ? undefined : p.ipam.unclaim(ip, owner(cur))));
          // The claims' undo restores the allocations as the client made them (with expiration).
          if (same) undoAll(claims);
          p.logger.warn({ endpoint: cur.id, err: e }, 'endpoint creation failed: rolled back');
        }
        throw e;
      }
    },
    find,
    list: () => [...table.all(txn())],
    async update(ref, req) {
      await gate.pass();
      checkRequest(req, false);
      const old = must(ref);
      for (const [field, key] of IMMUTABLE) {
        const v = req[field];
        if (v !== undefined && v !== old[key]) {
          throw new ApiError(
            400,
            `${field}: cannot change from '${old[key]}' to '${v}' (delete the endpoint and create it again)`,
          );
        }
      }
      const ext = req['datapath-configuration']?.['external-ipam'];
      if (ext !== undefined && ext !== old.externalIpam) {
        throw new ApiError(
          400,
          'datapath-configuration.external-ipam: cannot change on an existing endpoint',
        );
      }
      if (req.id !== undefined && req.id !== 0 && req.id !== old.id) {
        throw new ApiError(400, `id: cannot change endpoint ${old.id}'s id to ${req.id}`);
      }
      let ep = fromRequest(old.id, req, old);
      checkConflicts(ep);
      const before = endpointIps(old);
      const after = endpointIps(ep);
      const undo: (() => void)[] = [];
      const relabel = securityLabels(ep).join() !== securityLabels(old).join();
      ep = guarded(undo, () => {
        const claims = claim(
          ep,
          after.filter((ip) => !before.includes(ip)),
        );
        undo.push(() => undoAll(claims));
        const next = transition(
          relabel ? assignIdentity(ep, undo) : ep,
          'regenerating',
          'endpoint changed; regenerating',
        );
        persist(next);
        return next;
      });
      commit(ep);
      for (const ip of before.filter((x) => !after.includes(x))) {
        p.ipcache.delete(ip);
        if (!old.externalIpam) p.ipam.unclaim(ip, owner(old));
      }
      if (relabel) {
        const prev = identityOf(old);
        if (prev) p.ids.release(prev);
      }
      publish(ep);
      return req['sync-build-endpoint'] ? realized(ep.id) : ep;
    },
    async setUserLabels(ref, labels) {
      await gate.pass();
      const old = must(ref);
      const undo: (() => void)[] = [];
      const ep = guarded(undo, () => {
        const next = transition(
          assignIdentity({ ...old, userLabels: [...labels], status: statusPending() }, undo),
          'regenerating',
          `user labels set to ${labels.join(',') || '(none)'}`,
        );
        persist(next);
        return next;
      });
      commit(ep);
      const prev = identityOf(old);
      if (prev) p.ids.release(prev);
      publish(ep);
      return ep;
    },
    async setOptions(ref, options) {
      await gate.pass();
      const old = must(ref);
      for (const [k, v] of Object.entries(options)) {
        if (!(k in ENDPOINT_OPTIONS)) {
          throw new ApiError(
            400,
            `options.${k}: unknown option (known: ${Object.keys(ENDPOINT_OPTIONS).join(', ')})`,
          );
        }
        if (!['Enabled', 'Disabled'].includes(v)) {
          throw new ApiError(400, `options.${k}: '${v}' must be Enabled or Disabled`);
        }
      }
      const ep = transition(
        { ...old, options: { ...old.options, ...options } },
        old.state,
        `options changed: ${JSON.stringify(options)}`,
      );
      persist(ep);
      commit(ep);
      return ep;
    },
    async delete(ref) {
      await gate.pass();
      const ep = must(ref);
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
    },
    async restore(signal) {
      try {
        await restoreEndpoints({
          ...p,
          ...(signal ? { signal } : {}),
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
      } finally {
        progress = undefined;
        openGate();
        report();
      }
    },
    restoring: () => progress,
  };
  report();
  return mgr;
}
