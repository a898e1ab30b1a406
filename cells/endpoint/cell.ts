import { join } from 'node:path';
import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  provide,
  providePrivate,
  token,
} from '../../core/hive/index.js';
import { inspectLink } from '../../core/net/index.js';
import { registerReconciler } from '../../core/reconciler/index.js';
import type { Table } from '../../core/statedb/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { IdentityAllocator } from '../identity/index.js';
import { IpcacheTable, IpcacheWriter } from '../ipcache/index.js';
import { Ipam } from '../ipam/index.js';
import { DatapathMaps } from '../maps/index.js';
import { StateDB } from '../statedb/index.js';
import { endpointModel } from './api.js';
import { endpointFlags, EndpointConfig } from './config.js';
import { endpointOps, objectProblem } from './datapath.js';
import { EndpointManager, newEndpointManager, withStatus } from './manager.js';
import type { Endpoint } from './model.js';
import { registerEndpointRoutes } from './routes.js';
import { EndpointStore } from './store.js';
import { newEndpointTable } from './table.js';
import type { LinkLookup } from './validate.js';

/** The endpoints table (read-only for other cells). */
export const EndpointTable = token<Table<Endpoint>>('endpoint/EndpointTable');
/** How endpoints' host interfaces are looked up (rtnetlink; tests may override it). */
export const HostLinks = token<LinkLookup>('endpoint/HostLinks');
const Store = token<EndpointStore>('endpoint/EndpointStore');

/** Endpoints: Cilium's endpoint API, regeneration into the datapath, persistence and restore. */
export const endpointCell = module(
  'endpoint',
  'Endpoint manager: API, regeneration, persistence, restore',
  // --bpf-lxc-object, --endpoint-sync-timeout
  config(EndpointConfig, endpointFlags),
  provide(EndpointTable, { db: StateDB }, ({ db }) => newEndpointTable(db)),
  provide(HostLinks, {}, () => inspectLink),
  providePrivate(
    Store,
    { daemon: DaemonConfig },
    ({ daemon }) => new EndpointStore(join(daemon.stateDir, 'endpoints')),
  ),
  // Writes (and IPAM allocations) wait from construction until restore is done: the API can
  // never hand out a persisted endpoint's IP.
  provide(
    EndpointManager,
    {
      db: StateDB,
      table: EndpointTable,
      store: Store,
      ipam: Ipam,
      ids: IdentityAllocator,
      ipcache: IpcacheWriter,
      health: Health,
      logger: Logger,
      cfg: EndpointConfig,
      lookupLink: HostLinks,
      ipcacheTable: IpcacheTable,
      jobs: Jobs,
    },
    ({ cfg, ipcacheTable, jobs, ...p }) => {
      const m = newEndpointManager({
        ...p,
        syncTimeoutMs: cfg.endpointSyncTimeout,
      });
      // The ipcache must not prune what restored endpoints are about to publish again.
      const restored = p.db.update([ipcacheTable], (w) =>
        w.registerInitializer(ipcacheTable, 'endpoint-restore'),
      );
      const holdIpam = p.ipam.holdAllocations('endpoint restore');
      jobs.oneShot('restore-endpoints', async (ctx) => {
        try {
          await m.restore(ctx.signal);
        } finally {
          holdIpam();
          p.db.update([ipcacheTable], restored);
        }
      });
      return m;
    },
  ),
  // Regeneration: the endpoints table realized in cellium_lxc and tc, with retries.
  invoke(
    'regenerate',
    {
      db: StateDB,
      table: EndpointTable,
      maps: DatapathMaps,
      jobs: Jobs,
      cfg: EndpointConfig,
      lifecycle: Lifecycle,
      health: Health,
    },
    ({ db, table, maps, jobs, cfg, lifecycle, health }) => {
      const datapath = health.scope('bpf-lxc');
      const ops = endpointOps(maps, cfg.bpfLxcObject, (why) => {
        datapath.degraded(why);
      });
      lifecycle.append(
        {
          onStart: () => {
            const problem = objectProblem(maps.backend, cfg.bpfLxcObject);
            if (problem)
              datapath.degraded(`${problem}: endpoints with an interface cannot be ready`);
            else if (maps.backend === 'kernel') datapath.ok(`bpf_lxc object ${cfg.bpfLxcObject}`);
            else datapath.ok('in-memory maps: no programs are attached');
          },
          onStop: () => {
            ops.close();
          },
        },
        'bpf-lxc',
      );
      registerReconciler({
        db,
        table,
        ops,
        getStatus: (e) => e.status,
        setStatus: withStatus,
        jobs,
        config: { retry: { minMs: 100, maxMs: 10_000 } },
      });
    },
  ),
  invoke(
    'routes',
    { routes: ApiRoutes, m: EndpointManager, ids: IdentityAllocator, ipam: Ipam },
    registerEndpointRoutes,
  ),
  invoke(
    'status',
    { status: StatusContributors, m: EndpointManager, ids: IdentityAllocator, ipam: Ipam },
    ({ status, m, ids, ipam }) =>
      status.add({
        debug: (d) =>
          void (d['endpoint-list'] = m.list().map((ep) => endpointModel(ep, ids, ipam))),
        notReady: () => {
          const r = m.restoring();
          return r ? `restoring endpoints (${r.done} of ${r.total})` : undefined;
        },
      }),
  ),
);
