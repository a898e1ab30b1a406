import {
  config,
  Health,
  invoke,
  Jobs,
  Logger,
  module,
  provide,
  providePrivate,
} from '../../core/hive/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { StateDB } from '../statedb/index.js';
import { AccessRules } from './access.js';
import { K8sConfig, k8sFlags } from './config.js';
import { K8sConnection, newK8sConnection } from './connection.js';
import { declareCrdAccess } from './crds.js';
import { declareReflectorAccess, newK8sResources } from './resources.js';
import { k8sStatus } from './status.js';
import { K8sAccess, K8sClient, K8sResources } from './types.js';

/** Kubernetes mode: the API server client, the reflected tables, the CRDs and the access rules. */
export const k8sCell = module(
  'k8s',
  'Kubernetes: API server client, reflected tables, CRDs, access rules',
  // --k8s-kubeconfig-path, --k8s-api-server, --enable-k8s, --skip-crd-creation, --k8s-watch-backoff-max
  config(K8sConfig, k8sFlags),
  // Every cell's declared permissions (the chart's ClusterRole); requests they do not cover fail.
  provide(K8sAccess, {}, () => new AccessRules()),
  // The cell's own calls: /version, the CRDs, list+watch of each reflected resource.
  invoke('access', { access: K8sAccess }, ({ access }) => {
    declareCrdAccess(access);
    declareReflectorAccess(access);
  }),
  // Embedded or Kubernetes mode; the latter connects and registers the CRDs in jobs.
  providePrivate(
    K8sConnection,
    { config: K8sConfig, access: K8sAccess, jobs: Jobs, health: Health, logger: Logger },
    newK8sConnection,
  ),
  // The typed client-node APIs after ready() (disabled in embedded mode).
  provide(K8sClient, { conn: K8sConnection }, ({ conn }) => conn.public),
  // One table per resource, filled by list+watch reflectors (pods: this node's only).
  provide(
    K8sResources,
    {
      db: StateDB,
      conn: K8sConnection,
      jobs: Jobs,
      health: Health,
      logger: Logger,
      daemon: DaemonConfig,
      config: K8sConfig,
    },
    (p) =>
      newK8sResources({
        db: p.db,
        client: p.conn.client,
        jobs: p.jobs,
        health: p.health,
        logger: p.logger.child({ subsys: 'k8s' }),
        nodeName: p.daemon.nodeName,
        backoffMaxMs: p.config.k8sWatchBackoffMax,
        crdsReady: (signal) => p.conn.crds?.ready(signal) ?? Promise.resolve(),
      }),
  ),
  // /healthz kubernetes (Cilium's K8sStatus), /config k8s-endpoint; reflectors run from here on.
  invoke(
    'status',
    { status: StatusContributors, conn: K8sConnection, config: K8sConfig, resources: K8sResources },
    ({ status, conn, config: c }) => {
      status.add(k8sStatus(conn, c));
    },
  ),
);
