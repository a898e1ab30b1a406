// The load balancer at run time: at start the maps are read back (ids restored before anything
// new is allocated), the API services of the state file are written into the tables, and only
// then may the reconciler prune what nothing wants; the reconciler realizes the frontends table.
import { basename, join } from 'node:path';
import {
  errorMessage,
  type Health,
  type Jobs,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import {
  registerReconciler,
  type Reconciler,
  type ReconcilerMetrics,
} from '../../core/reconciler/index.js';
import type { DB, WriteTxn } from '../../core/statedb/index.js';
import type { LinkInfo } from '../../core/net/index.js';
import type { LbConfig } from './config.js';
import { findDevices, nodeAddresses, type LbDevice } from './devices.js';
import type { LbMaps } from './lbmaps.js';
import type { Frontend } from './model.js';
import { newLbOps, type LbOps } from './ops.js';
import { newServiceManager, type ServiceManager } from './services.js';
import { ServiceStore } from './store.js';
import type { LbTables } from './tables.js';
import type { LbWriter } from './writer.js';

/** What the load balancer needs. */
export interface LoadbalancerParams {
  readonly db: DB;
  readonly tables: LbTables;
  readonly writer: LbWriter;
  readonly maps: LbMaps;
  readonly config: LbConfig;
  readonly stateDir: string;
  readonly nodeName: string;
  readonly links: () => readonly LinkInfo[];
  readonly jobs: Jobs;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
  /** The metrics cell's reconciler metrics, when the hive has it. */
  readonly reconcilerMetrics: ReconcilerMetrics | undefined;
}

/** The load balancer's running parts other pieces of the cell use. */
export interface Loadbalancer {
  readonly services: ServiceManager;
  /** The devices of --devices (empty before start). */
  devices(): readonly LbDevice[];
  /** The NodePort addresses (empty before start). */
  nodeAddresses(): readonly string[];
  /** The reconciler's handle. */
  readonly reconciler: Reconciler;
  readonly ops: LbOps;
}

/** Builds the load balancer and its start and stop hooks. */
export function newLoadbalancer(p: LoadbalancerParams): Loadbalancer {
  const store = new ServiceStore(join(p.stateDir, 'services'));
  let devices: LbDevice[] = [];
  let addresses: string[] = [];
  let running = false;
  const done = p.db.update([p.tables.frontends], (w) =>
    w.registerInitializer(p.tables.frontends, 'loadbalancer-restore'),
  );
  const ops = newLbOps({
    maps: () => p.maps.open,
    serviceIds: p.writer.serviceIds,
    backendIds: p.writer.backendIds,
    nodeAddresses: () => addresses,
    nodeName: p.nodeName,
    algorithm: p.config.bpfLbAlgorithm,
    maglevTableSize: p.config.bpfLbMaglevTableSize,
    maglevSeed: p.config.bpfLbMaglevHashSeed,
    sessionAffinity: p.config.enableSessionAffinity,
    sourceRangeCheck: p.config.enableSvcSourceRangeCheck,
    externalClusterIp: p.config.bpfLbExternalClusterip,
  });
  const reconciler = registerReconciler<Frontend>({
    db: p.db,
    table: p.tables.frontends,
    ops,
    getStatus: (fe) => fe.status,
    setStatus: (fe, status) =>
      status.kind === 'done'
        ? { ...fe, status, realized: { type: fe.type, service: fe.service, backends: fe.backends } }
        : { ...fe, status },
    jobs: p.jobs,
    // Cilium's BPFOps prunes every 30 minutes (WithPruning(30m)).
    config: { retry: { minMs: 50, maxMs: 60_000 }, pruneIntervalMs: 30 * 60_000 },
    ...(p.reconcilerMetrics ? { metrics: p.reconcilerMetrics } : {}),
  });
  const services = newServiceManager({
    db: p.db,
    tables: p.tables,
    writer: p.writer,
    store,
    reconciler: () => reconciler,
    unavailable: () =>
      running ? undefined : 'the load balancer is not running (starting or stopping); retry',
    realizeTimeoutMs: 30_000,
    nodeAddresses: () => addresses,
    onStateWrite: (e) => {
      const h = p.health.scope('state-write');
      if (e === undefined) {
        h.ok('service state saved');
        return;
      }
      p.logger.error({ code: e.code, path: e.path }, `service state: ${e.message}`);
      h.degraded(`service state could not be saved: ${e.message}`, e);
    },
  });

  p.lifecycle.append(
    {
      onStart: () => {
        const links = p.links();
        devices = findDevices(p.config.devices, links);
        addresses = nodeAddresses(devices, links);
        const restored = ops.restore();
        const loaded = store.load();
        if (loaded.problems.length > 0) {
          const each = loaded.problems.map((x) => `${basename(x.file)}: ${x.problem}`).join('; ');
          const msg = `${loaded.problems.length} service state file(s) invalid and kept aside as <file>.invalid-<time>, their services not restored (${each})`;
          for (const x of loaded.problems)
            p.logger.error(
              { file: x.file, keptAside: x.keptAside },
              `service state file invalid: ${x.problem}`,
            );
          p.health.scope('state').degraded(msg);
        }
        try {
          services.load(loaded.requests);
        } catch (e) {
          throw new Error(`restoring the services of ${store.dir}: ${errorMessage(e)}`);
        }
        p.db.update([p.tables.frontends], (w: WriteTxn) => done(w));
        running = true;
        p.logger.info(
          {
            services: loaded.requests.length,
            mapServices: restored.services,
            mapBackends: restored.backends,
            nodeAddresses: addresses,
          },
          'load balancer started',
        );
      },
      onStop: () => {
        running = false;
      },
    },
    'loadbalancer',
  );

  return {
    services,
    devices: () => devices,
    nodeAddresses: () => addresses,
    reconciler,
    ops,
  };
}
