import type { ApiRegistry } from '../../core/api/index.js';
import type { Histogram } from 'prom-client';
import type { Metrics } from './metrics.js';

/** API durations: 100 µs to 10 s (a healthz is ~0.1 ms, a synchronous endpoint create ~10 ms). */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 10];

/**
 * Cilium's `api_process_time_seconds` (path, method, return_code) for every request an API
 * operation answers. The path is the operation's template (`/v1/endpoint/{id}`), never the raw
 * path, which would make a series per endpoint id; a label set's child is looked up once.
 */
export function observeApi(p: { readonly routes: ApiRegistry; readonly metrics: Metrics }): void {
  const h = p.metrics.histogram({
    name: 'cellium_agent_api_process_time_seconds',
    help: 'Processing time of API requests, by path template, method and return code',
    labelNames: ['path', 'method', 'return_code'],
    buckets: BUCKETS,
  });
  const children = new Map<string, Histogram.Internal<string>>();
  p.routes.observe((op, status, seconds) => {
    const key = `${op.id} ${status}`;
    let child = children.get(key);
    if (!child) {
      child = h.labels(`/v1${op.path}`, op.method.toUpperCase(), String(status));
      children.set(key, child);
    }
    child.observe(seconds);
  });
}
