import { token } from '../../core/hive/index.js';
import type * as reconciler from '../../core/reconciler/index.js';
import type { Metrics } from './metrics.js';

/** Per-table reconciler metrics (core/reconciler's interface). */
export type ReconcilerMetrics = reconciler.ReconcilerMetrics;

/** The reconcilers' metrics: cells pass it to registerReconciler as `metrics`. */
export const ReconcilerMetrics = token<ReconcilerMetrics>('metrics/ReconcilerMetrics');

/** Round durations for reconcilers: 100 µs to 10 s. */
const BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/**
 * cilium/statedb's reconciler metrics (`reconciler_incremental_*`, `reconciler_full_*`), labelled
 * by the reconciled table. Children are cached per table: a round costs two map lookups.
 */
export function newReconcilerMetrics(p: { readonly metrics: Metrics }): ReconcilerMetrics {
  const m = p.metrics;
  const incDuration = m.histogram({
    name: 'cellium_reconciler_incremental_duration_seconds',
    help: 'Duration of incremental reconciliation rounds, by table',
    labelNames: ['table'],
    buckets: BUCKETS,
  });
  const incErrors = m.counter({
    name: 'cellium_reconciler_incremental_errors_total',
    help: 'Failed operations of incremental reconciliation rounds, by table',
    labelNames: ['table'],
  });
  const incCurrent = m.gauge({
    name: 'cellium_reconciler_incremental_errors_current',
    help: 'Objects currently failing to reconcile, by table',
    labelNames: ['table'],
  });
  const fullDuration = m.histogram({
    name: 'cellium_reconciler_full_duration_seconds',
    help: 'Duration of full reconciliation rounds (refresh and prune), by table',
    labelNames: ['table'],
    buckets: BUCKETS,
  });
  const fullErrors = m.counter({
    name: 'cellium_reconciler_full_errors_total',
    help: 'Failed operations of full reconciliation rounds (refresh and prune), by table',
    labelNames: ['table'],
  });
  const children = new Map<string, ReturnType<typeof childrenOf>>();
  const childrenOf = (table: string) => ({
    incDuration: incDuration.labels(table),
    incErrors: incErrors.labels(table),
    incCurrent: incCurrent.labels(table),
    fullDuration: fullDuration.labels(table),
    fullErrors: fullErrors.labels(table),
  });
  const of = (table: string) => {
    let c = children.get(table);
    if (!c) {
      c = childrenOf(table);
      c.incErrors.inc(0);
      c.fullErrors.inc(0);
      children.set(table, c);
    }
    return c;
  };
  return {
    incremental: (table, seconds, errors, failing) => {
      const c = of(table);
      c.incDuration.observe(seconds);
      if (errors > 0) c.incErrors.inc(errors);
      c.incCurrent.set(failing);
    },
    full: (table, seconds, errors) => {
      const c = of(table);
      c.fullDuration.observe(seconds);
      if (errors > 0) c.fullErrors.inc(errors);
    },
  };
}
