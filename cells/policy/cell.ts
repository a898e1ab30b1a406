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
  token,
} from '../../core/hive/index.js';
import { ApiError } from '../../core/api/index.js';
import type { Table } from '../../core/statedb/index.js';
import { ApiRoutes } from '../api/index.js';
import { CtMaps } from '../conntrack/index.js';
import { DaemonConfig } from '../daemon/index.js';
import { EndpointPolicyStatus, EndpointTable, HostLinks } from '../endpoint/index.js';
import { IdentityAllocator } from '../identity/index.js';
import { Ipam } from '../ipam/index.js';
import { IpcacheTable, IpcacheWriter } from '../ipcache/index.js';
import { K8sResources } from '../k8s/index.js';
import { DatapathMaps } from '../maps/index.js';
import { ReconcilerMetrics } from '../metrics/index.js';
import { PolicyMaps } from '../policymap/index.js';
import { StateDB } from '../statedb/index.js';
import { registerPolicyRoutes } from './api.js';
import { PolicyConfig, policyFlags } from './config.js';
import { startK8sPolicySync } from './k8s-sync.js';
import { newPolicyRuntime, waitPolicyRealized, type PolicyRuntime } from './runtime.js';
import { endpointPolicyState } from './status.js';
import { newPolicyTable, policyKeyOf, type EndpointPolicy } from './table.js';

/** Endpoints' desired policy maps (read-only for other cells). */
export const PolicyTable = token<Table<EndpointPolicy>>('policy/PolicyTable');
/** The policy cell's running parts (repository, engine). */
export const Policy = token<PolicyRuntime>('policy/Policy');

/** Network policy: Cilium's rules, the selector cache, and each endpoint's policy map. */
export const policyCell = module(
  'policy',
  'Network policy: rules, selector cache, per-endpoint policy maps',
  // --allow-localhost (and the daemon's --policy-enforcement, changeable at runtime)
  config(PolicyConfig, policyFlags),
  provide(PolicyTable, { db: StateDB }, ({ db }) => newPolicyTable(db)),
  // The repository (<state-dir>/policy/rules.json), the engine, the reconciler into the maps.
  provide(
    Policy,
    {
      db: StateDB,
      table: PolicyTable,
      endpoints: EndpointTable,
      ids: IdentityAllocator,
      ipcache: IpcacheWriter,
      ipcacheTable: IpcacheTable,
      maps: PolicyMaps,
      ct: CtMaps,
      datapath: DatapathMaps,
      flags: HiveConfig,
      daemon: DaemonConfig,
      cfg: PolicyConfig,
      ipam: Ipam,
      hostLinks: HostLinks,
      jobs: Jobs,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
      reconcilerMetrics: optional(ReconcilerMetrics),
    },
    ({ daemon, cfg, datapath, ipam, hostLinks, ...p }) =>
      newPolicyRuntime({
        ...p,
        stateDir: daemon.stateDir,
        allowLocalhost: cfg.allowLocalhost !== 'policy',
        kernel: () => datapath.backend === 'kernel',
        links: () => hostLinks.all().values(),
        routers: () => [...ipam.pools.values()].map((pl) => pl.router),
      }),
  ),
  // /v1/policy, /v1/policy/selectors, /v1/policy/resolve; writes refused while the state is unusable.
  invoke('routes', { routes: ApiRoutes, policy: Policy }, ({ routes, policy }) => {
    const guard = (): void => {
      if (policy.broken !== undefined) {
        throw new ApiError(500, `the stored policy cannot be used: ${policy.broken}`);
      }
    };
    registerPolicyRoutes({
      routes,
      engine: policy.engine,
      repo: policy.repo,
      mode: policy.mode,
      allowLocalhost: policy.allowLocalhost,
      guard,
    });
  }),
  // The Endpoint model's policy section (policy-revision is what `policy wait` waits for), and
  // the wait of a synchronous endpoint build for its policy.
  invoke(
    'endpoint-status',
    {
      status: EndpointPolicyStatus,
      db: StateDB,
      table: PolicyTable,
      endpoints: EndpointTable,
      policy: Policy,
    },
    ({ status, db, table, endpoints, policy }) => {
      status.set(
        (id) => {
          const txn = db.readTxn();
          const ep = endpoints.get(txn, policyKeyOf(id));
          return endpointPolicyState(
            table.get(txn, policyKeyOf(id)),
            ep?.identity ?? 0,
            policy.engine,
          );
        },
        (id, timeoutMs) => waitPolicyRealized(policy, db, table, id, timeoutMs),
      );
    },
  ),
  // Kubernetes mode: NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
  // objects' rules kept in the repository (replaced, removed, stale ones swept after the sync).
  invoke(
    'k8s-policies',
    {
      db: StateDB,
      policy: Policy,
      resources: optional(K8sResources),
      jobs: Jobs,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    (p) => {
      startK8sPolicySync(p);
    },
  ),
);
