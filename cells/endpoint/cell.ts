import { join } from 'node:path';
import {
  config,
  Health,
  HiveConfig,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
  providePrivate,
  token,
} from '../../core/hive/index.js';
import { inspectLink, listLinks } from '../../core/net/index.js';
import { registerReconciler } from '../../core/reconciler/index.js';
import type { Table } from '../../core/statedb/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { CtMaps } from '../conntrack/index.js';
import { IdentityAllocator } from '../identity/index.js';
import { IpcacheTable, IpcacheWriter } from '../ipcache/index.js';
import { K8sAccess, K8sClient, K8sResources } from '../k8s/index.js';
import { Ipam } from '../ipam/index.js';
import { LbMaps } from '../loadbalancer/index.js';
import { Metrics, ReconcilerMetrics } from '../metrics/index.js';
import { PolicyMaps } from '../policymap/index.js';
import { RoutingMaps } from '../routing/index.js';
import {
  DatapathMaps,
  ENDPOINT_F,
  endpointInfoOf,
  endpointKeyOf,
  LXC_MAP,
  MapCaches,
  MonitorMaps,
  reconciledCache,
} from '../maps/index.js';
import { StateDB } from '../statedb/index.js';
import { endpointModel } from './api.js';
import { formatSplit } from './restore-split.js';
import { endpointFlags, EndpointConfig } from './config.js';
import { endpointOps, regenerationTrace } from './datapath.js';
import { EndpointManager, newEndpointManager, withStatus } from './manager.js';
import { withEndpointMetrics } from './metrics.js';
import { endpointIps, type Endpoint } from './model.js';
import { registerEndpointRoutes } from './routes.js';
import { EndpointPolicyStatus, newEndpointPolicyStatus } from './policy-status.js';
import { EndpointStore } from './store.js';
import { newEndpointTable } from './table.js';
import { registerRestoreJob } from './restore-job.js';
import type { HostLinks as HostLinkTable } from './validate.js';
import { k8sCepApi, type CepApi as CepStore } from './k8s-cep-api.js';
import { newEndpointK8s, registerEndpointK8s, type EndpointK8s } from './k8s-mode.js';

/** The endpoints table (read-only for other cells). */
export const EndpointTable = token<Table<Endpoint>>('endpoint/EndpointTable');
/** The node's devices, where endpoints' host interfaces are checked (rtnetlink; tests override it). */
export const HostLinks = token<HostLinkTable>('endpoint/HostLinks');
const Store = token<EndpointStore>('endpoint/EndpointStore');
const K8s = token<EndpointK8s>('endpoint/EndpointK8s');
/** Where CiliumEndpoints are written (the API server; cell tests override it). */
export const CepApi = token<CepStore>('endpoint/CepApi');

/** Endpoints: Cilium's endpoint API, regeneration into the datapath, persistence and restore. */
export const endpointCell = module(
  'endpoint',
  'Endpoint manager: API, regeneration, persistence, restore',
  // --bpf-lxc-object, --endpoint-sync-timeout
  config(EndpointConfig, endpointFlags),
  provide(EndpointTable, { db: StateDB }, ({ db }) => newEndpointTable(db)),
  // Where the Endpoint model reads policy from (the policy cell registers itself).
  provide(EndpointPolicyStatus, {}, newEndpointPolicyStatus),
  provide(HostLinks, {}, () => ({
    get: inspectLink,
    all: () => new Map(listLinks().map((l) => [l.name, l])),
  })),
  // Endpoint state on disk; restore locks it for this agent, stop gives it up.
  providePrivate(Store, { daemon: DaemonConfig, lifecycle: Lifecycle }, ({ daemon, lifecycle }) => {
    const store = new EndpointStore(join(daemon.stateDir, 'endpoints'));
    lifecycle.append({ onStop: () => store.unlock() }, 'state-lock');
    return store;
  }),
  // Kubernetes mode: pods' and namespaces' labels for endpoints (k8s-metadata.ts).
  providePrivate(
    K8s,
    {
      db: StateDB,
      resources: optional(K8sResources),
      daemon: DaemonConfig,
      health: Health,
      logger: Logger,
    },
    ({ daemon, ...p }) => newEndpointK8s({ ...p, clusterName: daemon.clusterName }),
  ),
  provide(CepApi, { client: optional(K8sClient) }, ({ client }) => k8sCepApi(client)),
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
      links: HostLinks,
      ipcacheTable: IpcacheTable,
      jobs: Jobs,
      policy: EndpointPolicyStatus,
      k8s: K8s,
    },
    ({ cfg, ipcacheTable, jobs, k8s, ...p }) => {
      const m = newEndpointManager({
        ...p,
        syncTimeoutMs: cfg.endpointSyncTimeout,
        ...(k8s.meta ? { k8s: k8s.meta } : {}),
      });
      registerRestoreJob({ ...p, m, endpoints: p.table, ipcache: ipcacheTable, jobs });
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
      logger: Logger,
      flags: HiveConfig,
      caches: MapCaches,
      m: EndpointManager,
      // bpf_lxc translates services, tracks connections and enforces policy: it is loaded with
      // their maps, which these cells open at their start, before any endpoint is regenerated.
      lbMaps: LbMaps,
      ctMaps: CtMaps,
      policyMaps: PolicyMaps,
      monitorMaps: MonitorMaps,
      // cellium_routing (tunnel mode); without the routing cell bpf_lxc gets a private, zeroed
      // one: native, packets for other nodes go to the stack.
      routingMaps: optional(RoutingMaps),
      policy: EndpointPolicyStatus,
      // cellium_endpoint_state, regeneration durations, the reconciler's rounds (metrics.ts)
      metrics: optional(Metrics),
      reconcilerMetrics: optional(ReconcilerMetrics),
    },
    ({
      db,
      table,
      maps,
      jobs,
      cfg,
      lifecycle,
      health,
      logger,
      flags,
      caches,
      m,
      lbMaps,
      ctMaps,
      policyMaps,
      monitorMaps,
      routingMaps,
      policy,
      metrics,
      reconcilerMetrics,
    }) => {
      const lxcFlags = (): number => (policy.managed() ? ENDPOINT_F.POLICY : 0);
      const trace = regenerationTrace(logger, () => flags.get('debug') === true);
      // A restore's clock ignores what comes after it finished.
      const ops = endpointOps(
        maps,
        cfg.bpfLxcObject,
        health.scope('bpf-lxc'),
        trace,
        (ms) => m.restoreClock()?.add('attach', ms),
        // Throw if asked before those cells started (test/agent.test.ts checks the order).
        () => [
          ...[...lbMaps.open.all(), ...ctMaps.all()].map((x) => x.raw),
          ...policyMaps.programMaps(),
          ...monitorMaps.programMaps(),
          ...(routingMaps?.programMaps() ?? []),
        ],
        lxcFlags,
      );
      // Whether bpf_lxc loads is known (and in health) from the start, not at the first pod.
      jobs.oneShot('load-bpf-lxc', () => {
        try {
          ops.check();
        } catch {
          // reported in health by check()
        }
        return Promise.resolve();
      });
      lifecycle.append({ onStop: () => ops.close() }, 'bpf-lxc');
      registerReconciler({
        db,
        table,
        ops: withEndpointMetrics({ metrics, db, table, ops }),
        getStatus: (e) => e.status,
        setStatus: (ep, s) => withStatus(ep, s, trace.take(ep.id)),
        jobs,
        config: { retry: { minMs: 100, maxMs: 10_000 } },
        ...(reconcilerMetrics ? { metrics: reconcilerMetrics } : {}),
        // The endpoints table is cellium_lxc's cache; each write lands in its event buffer.
        observe: reconciledCache({
          caches,
          spec: LXC_MAP,
          objects: () => table.all(db.readTxn()),
          status: (e) => e.status,
          id: (e) => String(e.id),
          entries: (e) =>
            endpointIps(e).map((ip) => [endpointKeyOf(ip), endpointInfoOf(e, lxcFlags())]),
        }),
      });
    },
  ),
  // Kubernetes mode: labels follow pods, a CiliumEndpoint per pod (k8s-mode.ts).
  invoke(
    'k8s',
    {
      k8s: K8s,
      access: optional(K8sAccess),
      client: optional(K8sClient),
      resources: optional(K8sResources),
      cepApi: CepApi,
      db: StateDB,
      table: EndpointTable,
      m: EndpointManager,
      ids: IdentityAllocator,
      daemon: DaemonConfig,
      jobs: Jobs,
      logger: Logger,
      health: Health,
    },
    ({ daemon, ...p }) => registerEndpointK8s({ ...p, nodeName: daemon.nodeName }),
  ),
  invoke(
    'routes',
    {
      routes: ApiRoutes,
      m: EndpointManager,
      ids: IdentityAllocator,
      ipam: Ipam,
      policy: EndpointPolicyStatus,
    },
    registerEndpointRoutes,
  ),
  invoke(
    'status',
    {
      status: StatusContributors,
      m: EndpointManager,
      ids: IdentityAllocator,
      ipam: Ipam,
      policy: EndpointPolicyStatus,
    },
    ({ status, m, ids, ipam, policy }) =>
      status.add({
        debug: (d) => {
          d['endpoint-list'] = m.list().map((ep) => endpointModel(ep, ids, ipam, policy));
          const split = m.restoreClock()?.split;
          if (split) d.subsystem = { ...d.subsystem, 'endpoint-restore': formatSplit(split) };
        },
        notReady: () => {
          const r = m.restoring();
          if (!r) return undefined;
          if (r.failed !== undefined) {
            return `endpoint restore failed, endpoint and IPAM writes are refused until a restart: ${r.failed}`;
          }
          if (r.waiting !== undefined)
            return `waiting for the ${r.waiting} before restoring endpoints`;
          return `restoring endpoints (${r.done} of ${r.total})`;
        },
      }),
  ),
);
