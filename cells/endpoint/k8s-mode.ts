// What the endpoint cell does in Kubernetes mode, wired in one place: its access rule (declared
// in every mode, so the chart's ClusterRole has it), the pod label sync and the CiliumEndpoints.
import type { Health, Jobs, Logger } from '../../core/hive/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import { CILIUM_GROUP, type K8sAccess, type K8sClient, type K8sResources } from '../k8s/index.js';
import { CEP_PLURAL, type CepApi } from './k8s-cep-api.js';
import { newCepTable, registerCepSync } from './k8s-cep.js';
import { newK8sMetadata, type K8sEndpointMetadata } from './k8s-metadata.js';
import { registerPodSync } from './k8s-pods.js';
import type { EndpointManager } from './manager.js';
import type { Endpoint } from './model.js';

/** The endpoint cell's Kubernetes side: the pod metadata source, absent in embedded mode. */
export interface EndpointK8s {
  readonly meta: K8sEndpointMetadata | undefined;
}

/** Creates the pod metadata source when the agent runs in Kubernetes mode. */
export function newEndpointK8s(p: {
  readonly db: DB;
  readonly resources: K8sResources | undefined;
  readonly clusterName: string;
  readonly health: Health;
  readonly logger: Logger;
}): EndpointK8s {
  if (!p.resources?.enabled) return { meta: undefined };
  return {
    meta: newK8sMetadata({
      db: p.db,
      resources: p.resources,
      clusterName: p.clusterName,
      logger: p.logger,
      health: p.health.scope('k8s-pods'),
    }),
  };
}

/** What the Kubernetes wiring needs. */
export interface EndpointK8sParams {
  readonly k8s: EndpointK8s;
  readonly access: K8sAccess | undefined;
  readonly client: K8sClient | undefined;
  readonly resources: K8sResources | undefined;
  readonly cepApi: CepApi;
  readonly db: DB;
  readonly table: Table<Endpoint>;
  readonly m: EndpointManager;
  readonly ids: IdentityAllocator;
  readonly nodeName: string;
  readonly jobs: Jobs;
  readonly logger: Logger;
  readonly health: Health;
}

/** Declares the access rule and, in Kubernetes mode, starts the pod label sync and the CEPs. */
export function registerEndpointK8s(p: EndpointK8sParams): void {
  p.access?.declare({
    group: CILIUM_GROUP,
    resource: CEP_PLURAL,
    verbs: ['get', 'list', 'create', 'update', 'delete'],
    why: 'endpoint: a CiliumEndpoint per pod endpoint, adopted or pruned after a restart',
  });
  const meta = p.k8s.meta;
  if (!meta || !p.resources?.enabled) return;
  registerPodSync({
    db: p.db,
    endpoints: p.table,
    resources: p.resources,
    meta,
    m: p.m,
    jobs: p.jobs,
    logger: p.logger,
    health: p.health,
  });
  if (!p.client?.enabled) return;
  registerCepSync({
    db: p.db,
    endpoints: p.table,
    ceps: newCepTable(p.db),
    resources: p.resources,
    ids: p.ids,
    api: p.cepApi,
    nodeName: p.nodeName,
    jobs: p.jobs,
    logger: p.logger,
  });
}
