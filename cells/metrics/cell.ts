import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { observeApi } from './api-metrics.js';
import { metricsFlags, MetricsConfig } from './config.js';
import { dumpMetrics } from './dump.js';
import { Metrics, newMetrics } from './metrics.js';
import { newReconcilerMetrics, ReconcilerMetrics } from './reconciler.js';
import { newPrometheusServer, PrometheusServer } from './server.js';

/** Prometheus metrics: the hive's registry, the opt-in TCP endpoint and GET /v1/metrics/. */
export const metricsCell = module(
  'metrics',
  'Prometheus metrics: the registry, GET /metrics on TCP and GET /v1/metrics/',
  // --prometheus-serve-addr (off by default)
  config(MetricsConfig, metricsFlags),
  // The hive's own registry with the process metrics; cells create theirs through it.
  provide(Metrics, {}, newMetrics),
  // cilium/statedb's reconciler metrics, per table, for registerReconciler.
  provide(ReconcilerMetrics, { metrics: Metrics }, newReconcilerMetrics),
  // The TCP listener serving GET /metrics (a start/stop hook; none when the flag is empty).
  provide(
    PrometheusServer,
    {
      config: MetricsConfig,
      metrics: Metrics,
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    newPrometheusServer,
  ),
  invoke('serve', { server: PrometheusServer }, () => undefined),
  // cellium_agent_api_process_time_seconds for every request an API operation answers.
  invoke('api-metrics', { routes: ApiRoutes, metrics: Metrics }, observeApi),
  // GET /v1/metrics/: the same metrics in Cilium's Metric model.
  invoke('routes', { routes: ApiRoutes, metrics: Metrics }, ({ routes, metrics }) => {
    routes.handle(
      'GetMetrics',
      async () => ({ status: 200, body: await dumpMetrics(metrics.registry) }),
      'metrics',
    );
  }),
);
