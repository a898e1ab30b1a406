import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
} from '../../core/hive/index.js';
import { ApiConfig } from '../api/index.js';
import { StatusContributors } from '../daemon/index.js';
import { EndpointTable } from '../endpoint/index.js';
import { LbTables } from '../loadbalancer/index.js';
import { MonitorMaps } from '../maps/index.js';
import { Metrics } from '../metrics/index.js';
import { Policy } from '../policy/index.js';
import { MonitorConfig, monitorFlags, monitorSocketPath } from './config.js';
import { registerMonitorMetrics } from './metrics.js';
import { Monitor, newMonitor } from './monitor.js';
import { registerNotifications } from './notify.js';
import { monitorStatus } from './status.js';

/** The node monitor: datapath events and agent notifications, on a socket. */
export const monitorCell = module(
  'monitor',
  'Datapath events and agent notifications on the monitor socket',
  // --monitor-socket-path, --monitor-aggregation, --monitor-queue-size
  config(MonitorConfig, monitorFlags),
  // Reads cellium_events (no timer: epoll on a worker thread) and serves the monitor socket.
  provide(
    Monitor,
    {
      config: MonitorConfig,
      api: ApiConfig,
      maps: MonitorMaps,
      endpoints: EndpointTable,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ config: c, api, ...p }) =>
      newMonitor({
        ...p,
        socketPath: monitorSocketPath(c.monitorSocketPath, api.socketPath),
        aggregation: c.monitorAggregation,
        queueSize: c.monitorQueueSize,
      }),
  ),
  // Agent notifications from the endpoints table, the policy repository and the services table.
  invoke(
    'notifications',
    {
      monitor: Monitor,
      endpoints: EndpointTable,
      policy: Policy,
      lb: LbTables,
      lifecycle: Lifecycle,
    },
    ({ monitor, endpoints, policy, lb, lifecycle }) =>
      registerNotifications({
        monitor,
        lifecycle,
        sources: { endpoints, policyChanges: policy.repo.changes$, services: lb.services },
      }),
  ),
  // /healthz and /config nodeMonitor (ring pages, lost, unknown); /debuginfo policy-drops.
  invoke('status', { status: StatusContributors, monitor: Monitor }, ({ status, monitor }) =>
    status.add(monitorStatus(monitor)),
  ),
  // cellium_monitor_events_total, cellium_monitor_lost_events_total, cellium_monitor_listeners.
  invoke('metrics', { metrics: optional(Metrics), monitor: Monitor }, registerMonitorMetrics),
);
