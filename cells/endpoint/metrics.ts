import type { Model } from '../../core/api/index.js';
import type { Operations } from '../../core/reconciler/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Endpoint } from './model.js';

/** Every state Cilium's `endpoint_state` gauge reports, so a state with none shows 0. */
const STATES: readonly Model<'EndpointState'>[] = [
  'waiting-for-identity',
  'not-ready',
  'waiting-to-regenerate',
  'regenerating',
  'restoring',
  'ready',
  'disconnecting',
  'disconnected',
  'invalid',
];

/** Regeneration durations: 100 µs (no interface) to 30 s (a first bpf_lxc load on a busy node). */
const BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30];

/**
 * The endpoint cell's metrics (Cilium's names): `cellium_endpoint` and
 * `cellium_endpoint_state{endpoint_state}` read from the endpoints table when scraped, and each
 * regeneration (the reconciler's update of an endpoint: lxc entries, tc attach) timed in
 * `cellium_endpoint_regeneration_time_stats_seconds{scope,status}` and counted in
 * `cellium_endpoint_regenerations_total{outcome}`. Returns `ops` timed; unchanged without metrics.
 */
export function withEndpointMetrics<O extends Operations<Endpoint>>(p: {
  readonly metrics: Metrics | undefined;
  readonly db: DB;
  readonly table: Table<Endpoint>;
  readonly ops: O;
}): O {
  const { metrics, db, table, ops } = p;
  if (!metrics) return ops;
  metrics.gaugeFrom({
    name: 'cellium_endpoint',
    help: 'Number of endpoints managed by this agent',
    read: () => [[{}, table.count(db.readTxn())]],
  });
  metrics.gaugeFrom({
    name: 'cellium_endpoint_state',
    help: 'Number of endpoints in each endpoint state',
    labelNames: ['endpoint_state'],
    read: () => {
      const n = new Map<string, number>(STATES.map((s) => [s, 0]));
      for (const ep of table.all(db.readTxn())) n.set(ep.state, (n.get(ep.state) ?? 0) + 1);
      return [...n].map(([s, v]) => [{ endpoint_state: s }, v] as const);
    },
  });
  const time = metrics.histogram({
    name: 'cellium_endpoint_regeneration_time_stats_seconds',
    help: 'Duration of endpoint regenerations (writing the datapath of an endpoint), by outcome',
    labelNames: ['scope', 'status'],
    buckets: BUCKETS,
  });
  const count = metrics.counter({
    name: 'cellium_endpoint_regenerations_total',
    help: 'Endpoint regenerations, by outcome',
    labelNames: ['outcome'],
  });
  const done = { time: time.labels('total', 'success'), count: count.labels('success') };
  const failed = { time: time.labels('total', 'failure'), count: count.labels('fail') };
  done.count.inc(0);
  failed.count.inc(0);

  return {
    ...ops,
    update: async (ctx, ep) => {
      const t0 = performance.now();
      let m = failed;
      try {
        await ops.update(ctx, ep);
        m = done;
      } finally {
        m.time.observe((performance.now() - t0) / 1000);
        m.count.inc();
      }
    },
  };
}
