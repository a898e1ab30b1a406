import {
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
} from '../../core/hive/index.js';
import { registerReconciler } from '../../core/reconciler/index.js';
import { ApiRoutes } from '../api/index.js';
import { IdentityAllocator, RESERVED } from '../identity/index.js';
import { KVStore } from '../kvstore/index.js';
import {
  DatapathMaps,
  IPCACHE_MAP,
  ipcacheKeyOf,
  MapCaches,
  reconciledCache,
  remoteEndpointInfoOf,
} from '../maps/index.js';
import { ReconcilerMetrics } from '../metrics/index.js';
import { NodeIds } from '../node/index.js';
import { StateDB } from '../statedb/index.js';
import { listIps } from './api.js';
import { KvstoreIpSync } from './kvstore-sync.js';
import { ipcacheOps } from './ops.js';
import { IpcacheTable, newIpcacheTable } from './table.js';
import { IpcacheWriter, newIpcacheWriter } from './writer.js';

/** IP/CIDR → security identity: a table fed by endpoints and the kvstore, in cellium_ipcache. */
export const ipcacheCell = module(
  'ipcache',
  'IP and CIDR to security identity, synced to cellium_ipcache',
  // The desired state: one row per prefix, with its reconcile status.
  provide(IpcacheTable, { db: StateDB }, ({ db }) => newIpcacheTable(db)),
  provide(IpcacheWriter, { db: StateDB, table: IpcacheTable }, ({ db, table }) =>
    newIpcacheWriter(db, table),
  ),
  // The reconciler: table → map, retrying failures, pruning stale prefixes.
  // The table is also cellium_ipcache's cache; each write lands in the map's event buffer.
  invoke(
    'reconcile',
    {
      db: StateDB,
      table: IpcacheTable,
      maps: DatapathMaps,
      jobs: Jobs,
      caches: MapCaches,
      metrics: optional(ReconcilerMetrics),
    },
    (p) => {
      registerReconciler({
        db: p.db,
        table: p.table,
        ops: ipcacheOps(() => p.maps.ipcache),
        getStatus: (e) => e.status,
        setStatus: (e, status) => ({ ...e, status }),
        jobs: p.jobs,
        ...(p.metrics ? { metrics: p.metrics } : {}),
        observe: reconciledCache({
          caches: p.caches,
          spec: IPCACHE_MAP,
          objects: () => p.table.all(p.db.readTxn()),
          status: (e) => e.status,
          id: (e) => e.prefix,
          entries: (e) => [[ipcacheKeyOf(e.prefix), remoteEndpointInfoOf(e)]],
        }),
      });
    },
  ),
  // With a kvstore: local endpoint IPs published there, other nodes' IPs read from there; the
  // table is not initialized (so not pruned) before the first listing is in.
  invoke(
    'kvstore-sync',
    {
      kv: optional(KVStore),
      ids: optional(NodeIds),
      db: StateDB,
      table: IpcacheTable,
      writer: IpcacheWriter,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ kv, ids, db, table, writer, lifecycle, health, logger }) => {
      if (kv?.enabled !== true) return;
      const done = db.update([table], (w) => w.registerInitializer(table, 'kvstore-ipcache'));
      const sync = new KvstoreIpSync({
        kv,
        db,
        table,
        writer,
        localIps: () => ids?.localIps ?? [],
        unpublished: new Set([RESERVED.host]),
        health: health.scope('kvstore-sync'),
        logger,
        onInitialSync: () => db.update([table], (w) => done(w)),
      });
      lifecycle.append({ onStart: () => sync.start(), onStop: () => sync.stop() }, 'kvstore-sync');
    },
  ),
  invoke(
    'routes',
    { routes: ApiRoutes, db: StateDB, table: IpcacheTable, ids: IdentityAllocator },
    ({ routes, db, table, ids }) => {
      routes.handle(
        'GetIP',
        (req) => ({
          status: 200,
          body: listIps(db.readTxn(), table, ids, req.query.cidr, req.query.labels),
        }),
        'ipcache',
      );
    },
  ),
);
