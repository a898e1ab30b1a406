import {
  config,
  Health,
  HealthTree,
  HiveConfig,
  HiveInfo,
  HiveJobs,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  provide,
  providePrivate,
  token,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { agentHealthFlags, AgentHealthConfig, newAgentHealthServer } from './agent-health.js';
import { daemonFlags, DaemonConfig } from './config.js';
import {
  daemonConfiguration,
  debugInfo,
  patchConfig,
  statusResponse,
  type DaemonParams,
} from './handlers.js';
import { StatusCollector, StatusProbes } from './probes.js';
import { AgentStatus, StatusContributors, StatusRegistry } from './status.js';

const Registry = token<StatusRegistry>('daemon/StatusRegistry');
const Collector = token<StatusCollector>('daemon/StatusCollector');
const Params = token<DaemonParams>('daemon/DaemonParams');

/** The daemon's own API: health, configuration, debug info; agent-wide settings. */
export const daemonCell = module(
  'daemon',
  'Agent status, configuration and debug info',
  // --node-name, --cluster-name, --state-dir, --mtu, --policy-enforcement
  config(DaemonConfig, daemonFlags),
  // Other cells add their parts of /healthz, /config and /debuginfo here.
  providePrivate(Registry, {}, () => new StatusRegistry()),
  provide(StatusContributors, { r: Registry }, ({ r }) => r),
  // The status collector: probes registered by cells run as this module's jobs; /healthz reads
  // their last results and names the late ones in `stale`.
  providePrivate(
    Collector,
    { jobs: Jobs, lifecycle: Lifecycle, health: Health },
    (p) => new StatusCollector(p),
  ),
  provide(StatusProbes, { c: Collector }, ({ c }) => c),
  // What the handlers read: settings, health, the hive, contributions, probes, jobs.
  providePrivate(
    Params,
    {
      config: DaemonConfig,
      flags: HiveConfig,
      health: HealthTree,
      hive: HiveInfo,
      contributions: Registry,
      collector: Collector,
      jobs: HiveJobs,
    },
    (p) => p,
  ),
  // The overall state, as /healthz computes it (the kubelet's health port reads it).
  provide(AgentStatus, { p: Params }, ({ p }) => ({
    status: () => statusResponse(p, true).cilium ?? { state: 'Failure' },
  })),
  invoke('routes', { routes: ApiRoutes, p: Params }, ({ routes, p }) => {
    routes.handle(
      'GetHealthz',
      (req) => ({
        status: 200,
        body: statusResponse(p, req.headers.brief === true),
      }),
      'daemon',
    );
    routes.handle('GetConfig', () => ({ status: 200, body: daemonConfiguration(p) }), 'daemon');
    routes.handle(
      'PatchConfig',
      (req) => {
        patchConfig(p, req.body);
        return { status: 200 };
      },
      'daemon',
    );
    routes.handle('GetDebuginfo', () => ({ status: 200, body: debugInfo(p) }), 'daemon');
  }),
);

/** Cilium's agent health port for the kubelet: plain HTTP /healthz on localhost. */
export const agentHealthCell = module(
  'agenthealth',
  "The kubelet's liveness and readiness port: plain HTTP /healthz on localhost",
  // --agent-health-port (9879 as Cilium's; 0: none)
  config(AgentHealthConfig, agentHealthFlags),
  // 200 while the agent is Ok, 503 otherwise; a taken port fails the start naming the flag.
  invoke(
    'server',
    { config: AgentHealthConfig, agent: AgentStatus, lifecycle: Lifecycle, logger: Logger },
    ({ agent, ...p }) => {
      newAgentHealthServer({ ...p, status: () => agent.status() });
    },
  ),
);
