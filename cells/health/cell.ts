import { healthSocketBeside, isRoot } from '../../core/api/index.js';
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
import { ApiConfig } from '../api/index.js';
import { AgentStatus, DaemonConfig, StatusContributors } from '../daemon/index.js';
import { EndpointManager } from '../endpoint/index.js';
import { Ipam } from '../ipam/index.js';
import { DatapathMaps } from '../maps/index.js';
import { Metrics } from '../metrics/index.js';
import { ClusterNodeList, NodeIds } from '../node/index.js';
import { healthFlags, HealthConfig } from './config.js';
import { endpointBlocker, HEALTH_CONTROLLER } from './endpoint.js';
import { registerHealthMetrics } from './metrics.js';
import { realProbes } from './probes.js';
import type { Probes } from './prober.js';
import { HealthService } from './service.js';

/** The network parts of the prober: ping and HTTP (cell tests override them). */
export const HealthProbes = token<Probes>('health/HealthProbes');
/** The running health service: prober, health API, health endpoint (tests read it). */
export const HealthChecker = token<HealthService>('health/HealthChecker');

/** cellium-health: the health endpoint, the probers of every node, the health API. */
export const healthCell = module(
  'health',
  'Node connectivity probes, the health endpoint and the health API (cilium-health)',
  // --enable-health-checking, --enable-endpoint-health-checking, --health-probe-interval,
  // --cluster-health-port, --health-netns, --health-socket-path
  config(HealthConfig, healthFlags),
  provide(HealthProbes, { config: HealthConfig }, ({ config: c }) =>
    realProbes(c.clusterHealthPort),
  ),
  provide(
    HealthChecker,
    {
      config: HealthConfig,
      daemon: DaemonConfig,
      api: ApiConfig,
      nodes: ClusterNodeList,
      ids: NodeIds,
      endpoints: EndpointManager,
      ipam: Ipam,
      maps: DatapathMaps,
      probes: HealthProbes,
      agent: AgentStatus,
      health: Health,
      logger: Logger,
    },
    ({ config: c, daemon, api, ids, maps, agent, ...p }) =>
      new HealthService({
        ...p,
        config: c,
        socketPath: c.healthSocketPath || healthSocketBeside(api.socketPath),
        localIps: () => ids.localIps,
        mtu: daemon.mtu,
        // Cilium needs the kernel for it too: a namespace, a veth and bpf_lxc on it.
        endpointDisabled: () => endpointBlocker(isRoot(), maps.backend),
        // The same state as /v1/healthz's `cilium` (and the kubelet's port).
        agentState: () => agent.status(),
      }),
  ),
  // Started after the endpoint and node cells; stopped before them (the endpoint is removed).
  // The controller cilium-health-ep is a timer job, added once endpoints are restored (if this
  // agent has a health endpoint): every probe interval, and whenever the responder dies. Jobs
  // start after the service and stop before it.
  invoke(
    'run',
    { config: HealthConfig, svc: HealthChecker, lifecycle: Lifecycle, health: Health, jobs: Jobs },
    ({ config: c, svc, lifecycle, health, jobs }) => {
      if (!c.enableHealthChecking) {
        health.ok('disabled (--enable-health-checking=false)');
        return;
      }
      lifecycle.append({ onStart: () => svc.start(), onStop: () => svc.stop() }, 'health');
      if (!c.enableEndpointHealthChecking) return;
      let added = false;
      jobs.oneShot('launch-endpoint', async (ctx) => {
        if (added || !(await svc.endpointWanted(ctx.signal))) return;
        added = true;
        jobs.timer('endpoint', () => svc.ensureEndpoint(), c.healthProbeInterval, {
          controller: HEALTH_CONTROLLER,
          trigger: svc.wakes,
        });
      });
    },
  ),
  // /v1/healthz: cluster.ciliumHealth.
  invoke(
    'status',
    { config: HealthConfig, svc: HealthChecker, status: StatusContributors },
    ({ config: c, svc, status }) =>
      status.add({ status: (s) => svc.contribute(s, c.enableHealthChecking) }),
  ),
  // cellium_unreachable_nodes, cellium_unreachable_health_endpoints,
  // cellium_node_connectivity_latency_seconds: read from the last round when scraped.
  invoke(
    'metrics',
    { metrics: optional(Metrics), svc: HealthChecker, nodes: ClusterNodeList },
    ({ metrics, svc, nodes }) => {
      registerHealthMetrics({ metrics, round: () => svc.prober.result, self: () => nodes.self });
    },
  ),
);
