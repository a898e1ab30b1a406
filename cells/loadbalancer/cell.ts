import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
  token,
} from '../../core/hive/index.js';
import { resolveCgroupRoot } from '../../core/bpf/index.js';
import { listLinks } from '../../core/net/index.js';
import { ApiRoutes } from '../api/index.js';
import { CtMaps } from '../conntrack/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { K8sAccess, K8sResources } from '../k8s/index.js';
import { DatapathMaps, Maps, MonitorMaps } from '../maps/index.js';
import { ReconcilerMetrics } from '../metrics/index.js';
import { StateDB } from '../statedb/index.js';
import { lbFeatures, lbFlags, LbConfig } from './config.js';
import { LbLinks } from './devices.js';
import { LbK8sConfig, lbK8sFlags } from './k8s-config.js';
import { registerK8sServices } from './k8s-reflector.js';
import { LbMaps, LbMapWrap, newLbMaps } from './lbmaps.js';
import { newLoadbalancer, type Loadbalancer as LoadbalancerApi } from './runtime.js';
import { ServiceManager } from './services.js';
import { registerServiceRoutes } from './api.js';
import { registerNodePort } from './nodeport.js';
import { registerSocketLb } from './socklb.js';
import { kubeProxyReplacement, lbDebug } from './status.js';
import { LbTables, newLbTables } from './tables.js';
import { LbWriter, newLbWriter } from './writer.js';

/** The load balancer at run time (services, devices, the reconciler). */
export const Loadbalancer = token<LoadbalancerApi>('loadbalancer/Loadbalancer');

/** Services: desired state in statedb, reconciled into the LB maps the datapath translates with. */
export const loadbalancerCell = module(
  'loadbalancer',
  'Services: frontends and backends, reconciled into the LB maps',
  // --bpf-lb-*, --kube-proxy-replacement, --enable-node-port, --bpf-lb-sock, --devices, ...
  config(LbConfig, lbFlags),
  // services, frontends, backends; every write goes through the Writer.
  provide(LbTables, { db: StateDB }, ({ db }) => newLbTables(db)),
  provide(LbWriter, { db: StateDB, tables: LbTables }, ({ db, tables }) => newLbWriter(db, tables)),
  provide(LbLinks, {}, () => listLinks),
  provide(LbMapWrap, {}, () => (raw) => raw),
  // cellium_lb{4,6}_* and the shared affinity-match and config maps, pinned, sized by flags.
  provide(
    LbMaps,
    {
      config: LbConfig,
      daemon: DaemonConfig,
      maps: DatapathMaps,
      registry: Maps,
      lifecycle: Lifecycle,
      logger: Logger,
      health: Health,
      wrap: LbMapWrap,
    },
    ({ daemon, ...p }) => newLbMaps({ ...p, ratio: daemon.bpfMapDynamicSizeRatio }),
  ),
  // At start: ids read back from the maps, API services from <state-dir>/services/<id>.json; then
  // the frontends reconciler (retries, pruning) realizes them.
  provide(
    Loadbalancer,
    {
      db: StateDB,
      tables: LbTables,
      writer: LbWriter,
      maps: LbMaps,
      config: LbConfig,
      daemon: DaemonConfig,
      links: LbLinks,
      jobs: Jobs,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
      reconcilerMetrics: optional(ReconcilerMetrics),
    },
    ({ daemon, ...p }) =>
      newLoadbalancer({ ...p, stateDir: daemon.stateDir, nodeName: daemon.nodeName }),
  ),
  provide(ServiceManager, { lb: Loadbalancer }, ({ lb }) => lb.services),
  // GET /v1/service, GET/PUT/DELETE /v1/service/{id}.
  invoke('routes', { routes: ApiRoutes, services: ServiceManager }, ({ routes, services }) =>
    registerServiceRoutes(routes, services),
  ),
  // bpf_sock on --cgroup-root's hooks with --bpf-lb-sock (or --kube-proxy-replacement=true).
  invoke(
    'socket-lb',
    {
      config: LbConfig,
      lbMaps: LbMaps,
      maps: DatapathMaps,
      daemon: DaemonConfig,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ config, lbMaps, maps, daemon, lifecycle, health, logger }) =>
      registerSocketLb({
        enabled: lbFeatures(config).socketLb,
        objectPath: config.bpfSockObject,
        stateDir: daemon.stateDir,
        kernel: () => maps.backend === 'kernel',
        cgroupRoot: () => resolveCgroupRoot(daemon.cgroupRoot),
        maps: () => [...lbMaps.open.all().map((m) => m.raw), maps.metrics.raw],
        lifecycle,
        health: health.scope('socket-lb'),
        logger,
      }),
  ),
  // bpf_host on tc ingress of --devices with --enable-node-port (or --kube-proxy-replacement=true).
  invoke(
    'nodeport',
    {
      config: LbConfig,
      lb: Loadbalancer,
      lbMaps: LbMaps,
      maps: DatapathMaps,
      ctMaps: CtMaps,
      monitor: MonitorMaps,
      daemon: DaemonConfig,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ config, lb, lbMaps, maps, ctMaps, monitor, daemon, lifecycle, health, logger }) =>
      registerNodePort({
        enabled: lbFeatures(config).nodePort,
        objectPath: config.bpfHostObject,
        stateDir: daemon.stateDir,
        kernel: () => maps.backend === 'kernel',
        devices: () => lb.devices(),
        lbMaps: () => lbMaps.open,
        maps: () => [
          ...[maps.lxc, maps.ipcache, maps.metrics, ...lbMaps.open.all(), ...ctMaps.all()].map(
            (m) => m.raw,
          ),
          ...monitor.programMaps(),
        ],
        lifecycle,
        health: health.scope('nodeport'),
        logger,
      }),
  ),
  // Kubernetes mode: Services and EndpointSlices written through the Writer (--enable-service-topology).
  config(LbK8sConfig, lbK8sFlags),
  invoke(
    'k8s-services',
    {
      resources: optional(K8sResources),
      access: optional(K8sAccess),
      k8s: LbK8sConfig,
      config: LbConfig,
      lb: Loadbalancer, // its start (ids read back from the maps) comes first
      db: StateDB,
      writer: LbWriter,
      tables: LbTables,
      daemon: DaemonConfig,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ k8s, config, lb: _lb, daemon, health, ...p }) =>
      registerK8sServices({
        ...p,
        nodeName: daemon.nodeName,
        nodePort: lbFeatures(config).nodePort,
        topology: k8s.enableServiceTopology,
        health: health.scope('k8s-services'),
      }),
  ),
  // /healthz kube-proxy-replacement; /debuginfo services.
  invoke(
    'status',
    { status: StatusContributors, lb: Loadbalancer, config: LbConfig },
    ({ status, lb, config }) => {
      status.add({
        status: (s) => {
          s['kube-proxy-replacement'] = kubeProxyReplacement(config, lb);
        },
        debug: (d) => {
          d['service-list'] = lb.services.list();
          d.subsystem = { ...d.subsystem, loadbalancer: lbDebug(lb) };
        },
      });
    },
  ),
);
