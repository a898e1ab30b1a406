import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ifIndex } from '../../core/bpf/index.js';
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
import { endpointOps } from './datapath.js';
import { EndpointManager, newEndpointManager, withStatus } from './manager.js';
import type { Endpoint } from './model.js';
import { registerEndpointRoutes } from './routes.js';
import { EndpointStore } from './store.js';
import { newEndpointTable } from './table.js';

/** The endpoints table (read-only for other cells). */
export const EndpointTable = token<Table<Endpoint>>('endpoint/EndpointTable');
const Store = token<EndpointStore>('endpoint/EndpointStore');

/** Asks the kernel in this process's network namespace (sysfs may show another one). */
function interfaceExists(name: string): boolean {
  try {
    return ifIndex(name) > 0;
  } catch {
    return existsSync(`/sys/class/net/${name}`);
  }
}

/** Endpoints: Cilium's endpoint API, regeneration into the datapath, persistence and restore. */
export const endpointCell = module(
  'endpoint',
  'Endpoint manager: API, regeneration, persistence, restore',
  // --bpf-lxc-object, --endpoint-sync-timeout
  config(EndpointConfig, endpointFlags),
  provide(EndpointTable, { db: StateDB }, ({ db }) => newEndpointTable(db)),
  providePrivate(
    Store,
    { daemon: DaemonConfig },
    ({ daemon }) => new EndpointStore(join(daemon.stateDir, 'endpoints')),
  ),
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
      lifecycle: Lifecycle,
      ipcacheTable: IpcacheTable,
    },
    ({ cfg, lifecycle, ipcacheTable, ...p }) => {
      const m = newEndpointManager({
        ...p,
        syncTimeoutMs: cfg.endpointSyncTimeout,
        interfaceExists,
      });
      // The ipcache must not prune what restored endpoints are about to publish again: it is
      // initialized only once they are back (otherwise a restart would empty cellium_ipcache).
      const restored = p.db.update([ipcacheTable], (w) =>
        w.registerInitializer(ipcacheTable, 'endpoint-restore'),
      );
      // Restore before anything else of this cell runs: IPs and identities come back first.
      lifecycle.append(
        {
          onStart: () => {
            m.restore();
            p.db.update([ipcacheTable], restored);
          },
        },
        'restore-endpoints',
      );
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
      m: EndpointManager,
    },
    ({ db, table, maps, jobs, cfg, lifecycle }) => {
      const ops = endpointOps(maps, cfg.bpfLxcObject);
      registerReconciler({
        db,
        table,
        ops,
        getStatus: (e) => e.status,
        setStatus: withStatus,
        jobs,
        config: { retry: { minMs: 100, maxMs: 10_000 } },
      });
      lifecycle.append({ onStop: () => ops.close() }, 'close-bpf-lxc');
    },
  ),
  // Every change of an endpoint is persisted (atomically) for restore.
  invoke(
    'persist',
    { table: EndpointTable, store: Store, jobs: Jobs },
    ({ table, store, jobs }) => {
      jobs.observer('persist-endpoints', table.observe(), (changes) => {
        for (const c of changes) {
          if (c.deleted) store.remove(c.object.id);
          else if (c.object.state !== 'disconnecting') store.save(c.object);
        }
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
      }),
  ),
);
