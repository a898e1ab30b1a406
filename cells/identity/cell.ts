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
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { CILIUM_GROUP, K8sAccess, K8sClient, K8sResources } from '../k8s/index.js';
import { KVStore, KvstoreConfig } from '../kvstore/index.js';
import { Metrics } from '../metrics/index.js';
import { IdentityAllocator } from './allocator.js';
import { getIdentity, identityEndpoints, listIdentities } from './api.js';
import { IdentityConfig, identityFlags } from './config.js';
import { registerIdentityMetrics } from './metrics.js';
import { CILIUM_IDENTITIES } from './crd-labels.js';
import { newIdentityAllocator } from './mode.js';

/** Security identities from label sets: reserved ones, local or cluster-wide allocation. */
export const identityCell = module(
  'identity',
  'Security identities from label sets',
  // --identity-allocation-mode, --identity-allocation-timeout (crd), --identity-gc-interval (kvstore)
  config(IdentityConfig, identityFlags),
  // Local ids; with an enabled kvstore, cluster-wide ones in etcd (watch, GC job); in Kubernetes
  // mode (crd, or no kvstore) CiliumIdentity objects.
  provide(
    IdentityAllocator,
    {
      kv: optional(KVStore),
      daemon: DaemonConfig,
      config: IdentityConfig,
      kvConfig: optional(KvstoreConfig),
      k8s: optional(K8sClient),
      resources: optional(K8sResources),
      lifecycle: Lifecycle,
      jobs: Jobs,
      health: Health,
      logger: Logger,
    },
    newIdentityAllocator,
  ),
  // RBAC: CiliumIdentity objects created (and read back after AlreadyExists) in crd mode.
  invoke('k8s-access', { access: optional(K8sAccess) }, ({ access }) => {
    access?.declare({
      group: CILIUM_GROUP,
      resource: CILIUM_IDENTITIES,
      verbs: ['create', 'get'],
      why: 'identity: allocate security identities as CiliumIdentity objects (crd mode)',
    });
  }),
  invoke('routes', { routes: ApiRoutes, ids: IdentityAllocator }, ({ routes, ids }) => {
    routes.handle(
      'GetIdentity',
      (req) => ({ status: 200, body: listIdentities(ids, req.body) }),
      'identity',
    );
    routes.handle(
      'GetIdentityID',
      (req) => ({ status: 200, body: getIdentity(ids, req.params.id) }),
      'identity',
    );
    routes.handle(
      'GetIdentityEndpoints',
      () => ({ status: 200, body: identityEndpoints(ids) }),
      'identity',
    );
  }),
  // cellium_identity{type}, counted when scraped.
  invoke(
    'metrics',
    { metrics: optional(Metrics), ids: IdentityAllocator },
    registerIdentityMetrics,
  ),
  // /healthz identity-range: the ids the allocator hands out.
  invoke('status', { status: StatusContributors, ids: IdentityAllocator }, ({ status, ids }) => {
    status.add({
      status: (s) => {
        s['identity-range'] = { 'min-identity': ids.range.min, 'max-identity': ids.range.max };
      },
    });
  }),
);
