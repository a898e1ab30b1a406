import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type LabelValues,
} from 'prom-client';
import { token } from '../../core/hive/index.js';

/** What every metric's name starts with (Cilium's `cilium_`). */
export const METRIC_PREFIX = 'cellium_';

/** Label values and a value, as a collect-time reader yields them. */
export type Sample<L extends string> = readonly [labels: LabelValues<L>, value: number];

/** A metric whose values are read from state when it is scraped, costing nothing in between. */
export interface ReadMetric<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  /** The current values; called on every scrape (and GET /v1/metrics/). */
  read(): Iterable<Sample<L>> | Promise<Iterable<Sample<L>>>;
}

/**
 * The agent's metrics: a registry of its own per hive (never prom-client's global one, since
 * several hives share a test process) and the helpers a cell creates its metrics with.
 * A cell owns its metrics: it creates them when it is built and updates them itself.
 */
export interface Metrics {
  readonly registry: Registry;
  /** A counter updated as events happen (its name ends in `_total`). */
  counter<L extends string>(c: CounterConfiguration<L>): Counter<L>;
  /** A gauge updated as things change. */
  gauge<L extends string>(c: GaugeConfiguration<L>): Gauge<L>;
  /** A histogram of durations or sizes (its name ends in the unit, e.g. `_seconds`). */
  histogram<L extends string>(c: HistogramConfiguration<L>): Histogram<L>;
  /** A gauge read from state at scrape time. */
  gaugeFrom<L extends string>(m: ReadMetric<L>): Gauge<L>;
  /** A counter read from state at scrape time (a running total the state keeps). */
  counterFrom<L extends string>(m: ReadMetric<L>): Counter<L>;
}

/** The hive's metrics; cells take it as `optional(Metrics)` so they also run without it. */
export const Metrics = token<Metrics>('metrics/Metrics');

function checkName(name: string, counter: boolean): void {
  if (!name.startsWith(METRIC_PREFIX)) {
    throw new Error(`metric ${name}: names start with ${METRIC_PREFIX}`);
  }
  if (counter !== name.endsWith('_total')) {
    throw new Error(`metric ${name}: counters, and only counters, end in _total`);
  }
}

let processRegistry: Registry | undefined;

/**
 * The process metrics (`cellium_process_*`, `cellium_nodejs_*`, prom-client's default
 * collectors), set up once per process: they describe the process, and their collectors (a GC
 * observer, an event-loop delay monitor) cannot be stopped, so hives in one process share them.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: METRIC_PREFIX });
    // Gauges named like counters (promtool refuses them); `…_active_handles{type}`,
    // `…_active_requests{type}` and `…_active_resources{type}` hold the same numbers by type.
    for (const what of ['handles', 'requests', 'resources']) {
      processRegistry.removeSingleMetric(`${METRIC_PREFIX}nodejs_active_${what}_total`);
    }
  }
  return processRegistry;
}

/** Creates the hive's registry, holding the process metrics; cells add theirs through it. */
export function newMetrics(): Metrics {
  const registry = Registry.merge([processMetrics()]);
  const registers = [registry];
  return {
    registry,
    counter: (c) => {
      checkName(c.name, true);
      return new Counter({ ...c, registers });
    },
    gauge: (c) => {
      checkName(c.name, false);
      return new Gauge({ ...c, registers });
    },
    histogram: (c) => {
      checkName(c.name, false);
      return new Histogram({ ...c, registers });
    },
    gaugeFrom: <L extends string>(m: ReadMetric<L>) => {
      checkName(m.name, false);
      return new Gauge<L>({
        name: m.name,
        help: m.help,
        labelNames: m.labelNames ?? [],
        registers,
        async collect() {
          const samples = await m.read();
          this.reset();
          for (const [labels, v] of samples) this.set(labels, v);
        },
      });
    },
    counterFrom: <L extends string>(m: ReadMetric<L>) => {
      checkName(m.name, true);
      return new Counter<L>({
        name: m.name,
        help: m.help,
        labelNames: m.labelNames ?? [],
        registers,
        async collect() {
          const samples = await m.read();
          this.reset();
          for (const [labels, v] of samples) this.inc(labels, v);
        },
      });
    },
  };
}
