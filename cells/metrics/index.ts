export { metricsCell } from './cell.js';
export { MetricsConfig, parseServeAddr, type ServeAddr } from './config.js';
export { dumpMetrics } from './dump.js';
export { METRIC_PREFIX, Metrics, type ReadMetric, type Sample } from './metrics.js';
export { ReconcilerMetrics } from './reconciler.js';
export { PrometheusServer } from './server.js';
