import { ApiError, type Model } from '../../core/api/index.js';
import { parseIp } from '../../core/ip.js';
import { token, type Health, type Logger } from '../../core/hive/index.js';
import { statusPending, type Status } from '../../core/reconciler/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import type { IpcacheWriter } from '../ipcache/index.js';
import type { Ipam } from '../ipam/index.js';
import type { EndpointRef } from './ids.js';
import {
  ENDPOINT_OPTIONS,
  endpointIps,
  securityLabels,
  transition,
  type Endpoint,
} from './model.js';
import type { EndpointStore } from './store.js';
import { endpointKey } from './table.js';

/** Creates, finds, changes and deletes endpoints; restores them at start. */
export interface EndpointManager {
  readonly table: Table<Endpoint>;
  create(ref: EndpointRef, req: Model<'EndpointChangeRequest'>): Promise<Endpoint>;
  find(ref: EndpointRef): Endpoint | undefined;
  list(): Endpoint[];
  /** Applies a change request to an existing endpoint (deprecated PATCH). */
  update(ref: EndpointRef, req: Model<'EndpointChangeRequest'>): Promise<Endpoint>;
  setUserLabels(ref: EndpointRef, labels: readonly string[]): Promise<Endpoint>;
  setOptions(ref: EndpointRef, options: Readonly<Record<string, string>>): Endpoint;
  /** Deletes an endpoint and frees its IPs and identity; returns the number of errors. */
  delete(ref: EndpointRef): number;
  /** Restores persisted endpoints (start hook). */
  restore(): void;
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
  /** Whether a network interface exists in the agent's network namespace. */
  readonly interfaceExists: (name: string) => boolean;
}

const MAX_ID = 65535;

function owner(ep: Pick<Endpoint, 'k8sNamespace' | 'k8sPodName' | 'containerId' | 'id'>): string {
  if (ep.k8sPodName !== '') return `${ep.k8sNamespace}/${ep.k8sPodName}`;
  return ep.containerId !== '' ? ep.containerId : `endpoint ${ep.id}`;
}

/** The reconciler's status written back: a built endpoint becomes ready, a failed one not-ready. */
export function withStatus(ep: Endpoint, status: Status): Endpoint {
  const next = { ...ep, status };
  if (status.kind === 'done' && ep.state !== 'ready' && ep.state !== 'disconnecting') {
    return transition(next, 'ready', 'datapath realized: endpoint map written, bpf_lxc attached');
  }
  if (
    status.kind === 'error' &&
    ep.log.at(-1)?.message !== `regeneration failed: ${status.error ?? ''}`
  ) {
    return transition(next, 'not-ready', `regeneration failed: ${status.error ?? ''}`, 'failed');
  }
  return next;
}

/** The endpoint manager over its StateDB table; the datapath reconciler realizes the table. */
export function newEndpointManager(p: ManagerParams): EndpointManager {
  const { db, table } = p;
  const txn = () => db.readTxn();

  const find = (ref: EndpointRef): Endpoint | undefined => {
    const r = txn();
    if (ref.kind === 'cilium-local') return table.get(r, endpointKey(ref.id));
    const index = ref.kind === 'cilium-global' ? 'container-id' : ref.kind;
    return table.getBy(r, index, ref.value);
  };
  const must = (ref: EndpointRef): Endpoint => {
    const ep = find(ref);
    if (!ep)
      throw new ApiError(404, `endpoint ${ref.kind}:${'id' in ref ? ref.id : ref.value} not found`);
    return ep;
  };
  const write = (ep: Endpoint): void => {
    db.update([table], (w) => w.insert(table, ep));
  };
  const report = (): void => {
    const all = [...table.all(txn())];
    const ready = all.filter((e) => e.state === 'ready').length;
    p.health.ok(`${all.length} endpoints, ${ready} ready`);
  };
  const freeId = (): number => {
    const r = txn();
    for (let id = 1; id <= MAX_ID; id++) if (!table.get(r, endpointKey(id))) return id;
    throw new ApiError(500, 'all endpoint ids (1-65535) are in use');
  };

  /** Waits until the datapath of `id` is realized (sync-build-endpoint), woken by commits. */
  const realized = (id: number): Promise<Endpoint> =>
    new Promise((resolve, reject) => {
      const settled = (): boolean => {
        const ep = table.get(txn(), endpointKey(id));
        if (!ep) reject(new ApiError(500, `endpoint ${id} was deleted while it was being built`));
        else if (ep.status.kind === 'done') resolve(ep);
        else return false;
        return true;
      };
      if (settled()) return;
      const sub = db.commits$.subscribe((names) => {
        if (names.has(table.name) && settled()) finish();
      });
      const timer = setTimeout(() => {
        const ep = table.get(txn(), endpointKey(id));
        const why = ep?.status.error ?? 'still pending';
        reject(
          new ApiError(500, `endpoint ${id} was created but its datapath is not ready: ${why}`),
        );
        finish();
      }, p.syncTimeoutMs);
      const finish = (): void => {
        sub.unsubscribe();
        clearTimeout(timer);
      };
    });

  const claimIps = (ep: Endpoint): void => {
    if (ep.externalIpam) return;
    for (const ip of endpointIps(ep)) {
      const family = parseIp(ip)?.family;
      const pool = family ? p.ipam.pools.get(family) : undefined;
      if (!pool?.contains(ip)) {
        throw new ApiError(
          400,
          `addressing: ${ip} is not in this node's pod CIDRs (set datapath-configuration.external-ipam for IPs managed elsewhere)`,
        );
      }
      const held = pool.get(ip);
      if (held && held.owner !== owner(ep) && held.owner !== '') {
        throw new ApiError(
          409,
          `addressing: ${ip} is allocated to ${held.owner}, not to ${owner(ep)}`,
        );
      }
      if (held) p.ipam.confirm(ip);
      else p.ipam.restore(ip, owner(ep));
    }
  };

  const publish = (ep: Endpoint): void => {
    for (const ip of endpointIps(ep)) {
      p.ipcache.upsert({
        prefix: ip,
        identity: ep.identity,
        source: 'local',
        ...(ep.k8sNamespace ? { namespace: ep.k8sNamespace } : {}),
        ...(ep.k8sPodName ? { name: ep.k8sPodName } : {}),
      });
    }
  };

  const fromRequest = (
    id: number,
    req: Model<'EndpointChangeRequest'>,
    base?: Endpoint,
  ): Endpoint => ({
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
    ifName: req['interface-name'] ?? base?.ifName ?? '',
    ifIndex: req['interface-index'] ?? base?.ifIndex ?? 0,
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
  });

  const assignIdentity = (ep: Endpoint): Endpoint => {
    const ident = p.ids.allocate(securityLabels(ep));
    const withId = { ...ep, identity: ident.id };
    return transition(
      withId,
      'waiting-to-regenerate',
      `identity ${ident.id} (${ident.labels.join(',')}) assigned`,
    );
  };

  const validate = (req: Model<'EndpointChangeRequest'>): void => {
    for (const f of ['ipv4', 'ipv6'] as const) {
      const ip = req.addressing?.[f];
      if (ip !== undefined && ip !== '' && parseIp(ip)?.family !== f) {
        throw new ApiError(
          400,
          `addressing.${f}: '${ip}' is not an ${f === 'ipv4' ? 'IPv4' : 'IPv6'} address`,
        );
      }
    }
    if (!req.addressing?.ipv4 && !req.addressing?.ipv6) {
      throw new ApiError(400, 'addressing: an endpoint needs an IPv4 or IPv6 address');
    }
    for (const f of ['mac', 'host-mac'] as const) {
      const mac = req[f];
      if (mac !== undefined && mac !== '' && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) {
        throw new ApiError(400, `${f}: '${mac}' is not a MAC address`);
      }
    }
  };

  const mgr: EndpointManager = {
    table,
    async create(ref, req) {
      validate(req);
      if (ref.kind !== 'cilium-local') {
        throw new ApiError(
          400,
          'endpoints are created by numeric id (use cilium-local:0 to let the agent choose)',
        );
      }
      const reqId = ref.id !== 0 ? ref.id : (req.id ?? 0);
      if (reqId !== 0 && table.get(txn(), endpointKey(reqId)))
        throw new ApiError(409, `endpoint ${reqId} already exists`);
      if (req['container-id']) {
        const attach = `${req['container-id']}:${req['container-interface-name'] ?? 'eth0'}`;
        if (table.getBy(txn(), 'cni-attachment-id', attach)) {
          throw new ApiError(
            409,
            `an endpoint for container ${req['container-id']} (${attach}) already exists`,
          );
        }
      }
      for (const ip of [req.addressing?.ipv4, req.addressing?.ipv6]) {
        const other = ip ? table.getBy(txn(), 'ip', ip) : undefined;
        if (other) throw new ApiError(409, `${ip ?? ''} is already used by endpoint ${other.id}`);
      }
      const id = reqId !== 0 ? reqId : freeId();
      let ep = transition(fromRequest(id, req), 'waiting-for-identity', 'endpoint created');
      claimIps(ep);
      ep = assignIdentity(ep);
      ep = transition(
        ep,
        'regenerating',
        'regenerating: writing the endpoint map and attaching bpf_lxc',
      );
      write(ep);
      publish(ep);
      report();
      p.logger.info(
        { endpoint: id, owner: owner(ep), ipv4: ep.ipv4, identity: ep.identity },
        'endpoint created',
      );
      return req['sync-build-endpoint'] ? realized(id) : ep;
    },
    find,
    list: () => [...table.all(txn())],
    async update(ref, req) {
      const old = must(ref);
      let ep = fromRequest(old.id, req, old);
      if (securityLabels(ep).join() !== securityLabels(old).join()) {
        ep = assignIdentity(ep);
        const previous = p.ids.get(old.identity);
        if (previous) p.ids.release(previous);
      }
      ep = transition(ep, 'regenerating', 'endpoint changed; regenerating');
      write(ep);
      publish(ep);
      return req['sync-build-endpoint'] ? realized(ep.id) : ep;
    },
    async setUserLabels(ref, labels) {
      const old = must(ref);
      let ep: Endpoint = { ...old, userLabels: [...labels], status: statusPending() };
      const oldIdent = p.ids.get(old.identity);
      ep = assignIdentity(ep);
      if (oldIdent) p.ids.release(oldIdent);
      ep = transition(ep, 'regenerating', `user labels set to ${labels.join(',') || '(none)'}`);
      write(ep);
      publish(ep);
      return Promise.resolve(ep);
    },
    setOptions(ref, options) {
      const old = must(ref);
      for (const [k, v] of Object.entries(options)) {
        if (!(k in ENDPOINT_OPTIONS))
          throw new ApiError(
            400,
            `option ${k} is unknown (known: ${Object.keys(ENDPOINT_OPTIONS).join(', ')})`,
          );
        if (!['Enabled', 'Disabled'].includes(v))
          throw new ApiError(400, `option ${k}: '${v}' must be Enabled or Disabled`);
      }
      const ep = transition(
        { ...old, options: { ...old.options, ...options } },
        old.state,
        `options changed: ${JSON.stringify(options)}`,
      );
      write(ep);
      return ep;
    },
    delete(ref) {
      const ep = must(ref);
      let errors = 0;
      write(transition(ep, 'disconnecting', 'deleting'));
      for (const ip of endpointIps(ep)) {
        try {
          p.ipcache.delete(ip);
          if (!ep.externalIpam) p.ipam.release(ip);
        } catch (e) {
          errors++;
          p.logger.warn({ endpoint: ep.id, ip, err: e }, 'endpoint delete: cleanup failed');
        }
      }
      const ident = p.ids.get(ep.identity);
      if (ident) p.ids.release(ident);
      db.update([table], (w) => w.deleteKey(table, endpointKey(ep.id)));
      report();
      p.logger.info({ endpoint: ep.id, owner: owner(ep) }, 'endpoint deleted');
      return errors;
    },
    restore() {
      const done = p.ipam.holdAllocations('endpoint restore');
      let restored = 0;
      try {
        for (const saved of p.store.load((file, why) => {
          p.logger.warn({ file }, `skipping endpoint state ${file}: ${why}`);
        })) {
          const base: Endpoint = { ...saved, status: statusPending() };
          if (base.ifName !== '' && !p.interfaceExists(base.ifName)) {
            p.logger.info(
              { endpoint: base.id, interface: base.ifName },
              'interface is gone: removing the endpoint',
            );
            p.store.remove(base.id);
            continue;
          }
          try {
            if (!base.externalIpam)
              for (const ip of endpointIps(base)) p.ipam.restore(ip, owner(base));
            const ident = p.ids.restore(securityLabels(base), base.identity);
            const ep = transition(
              { ...base, identity: ident.id },
              'restoring',
              `restored after agent restart (identity ${ident.id})`,
            );
            write(ep);
            publish(ep);
            restored++;
          } catch (e) {
            p.logger.warn({ endpoint: base.id, err: e }, 'could not restore endpoint; removing it');
            p.store.remove(base.id);
          }
        }
      } finally {
        done();
      }
      p.logger.info({ restored }, 'endpoints restored');
      report();
    },
  };
  report();
  return mgr;
}
