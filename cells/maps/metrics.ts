import type { MapRegistry } from '../../core/bpf/index.js';
import type { Metrics } from '../metrics/index.js';
import { DIRECTION_TEXT, DROP_MIN, dropReasonText, METRIC } from './defs.js';
import type { DatapathMaps } from './maps.js';

/** What the maps cell's metrics read. */
export interface MapsMetricsParams {
  readonly metrics: Metrics | undefined;
  readonly registry: MapRegistry;
  readonly maps: DatapathMaps;
}

interface Totals {
  count: bigint;
  bytes: bigint;
}

/**
 * The datapath's counters in cellium_metrics, summed over CPUs: drops (reason ≥ 130) by reason
 * and direction, forwards (reason < 130, not the load balancer's SERVICE events) by direction.
 */
export function datapathTotals(maps: DatapathMaps): {
  drops: Map<string, Totals & { reason: string; direction: string }>;
  forwards: Map<string, Totals & { direction: string }>;
} {
  const drops = new Map<string, Totals & { reason: string; direction: string }>();
  const forwards = new Map<string, Totals & { direction: string }>();
  let entries: ReturnType<DatapathMaps['metrics']['entries']>;
  try {
    entries = maps.metrics.entries();
  } catch {
    return { drops, forwards }; // the maps cell has not started (or has stopped)
  }
  for (const [k, perCpu] of entries) {
    const direction = DIRECTION_TEXT[k.dir] ?? 'UNKNOWN';
    let t: Totals;
    if (k.reason >= DROP_MIN) {
      const reason = dropReasonText(k.reason);
      const key = `${reason}\0${direction}`;
      t = drops.get(key) ?? { reason, direction, count: 0n, bytes: 0n };
      drops.set(key, t as Totals & { reason: string; direction: string });
    } else if (k.dir !== METRIC.SERVICE) {
      t = forwards.get(direction) ?? { direction, count: 0n, bytes: 0n };
      forwards.set(direction, t as Totals & { direction: string });
    } else continue;
    for (const v of perCpu) {
      t.count += v.count;
      t.bytes += v.bytes;
    }
  }
  return { drops, forwards };
}

/**
 * The maps cell's metrics, all read when scraped: Cilium's `bpf_map_ops_total` (each map's
 * writes, counted by core/bpf as plain numbers), `bpf_map_pressure` (the last pressure check),
 * and the datapath's `drop_*_total` and `forward_*_total` from cellium_metrics.
 */
export function registerMapsMetrics(p: MapsMetricsParams): void {
  const { metrics, registry, maps } = p;
  if (!metrics) return;
  metrics.counterFrom({
    name: 'cellium_bpf_map_ops_total',
    help: 'Writes to BPF maps through the agent, by map, operation and outcome',
    labelNames: ['map_name', 'operation', 'outcome'],
    read: () =>
      registry
        .list()
        .flatMap((m) =>
          (['update', 'delete'] as const).flatMap((operation) => [
            [{ map_name: m.name, operation, outcome: 'success' }, m.ops[operation].ok] as const,
            [{ map_name: m.name, operation, outcome: 'fail' }, m.ops[operation].failed] as const,
          ]),
        ),
  });
  metrics.gaugeFrom({
    name: 'cellium_bpf_map_pressure',
    help: 'Fill ratio of BPF maps (entries / max entries) at the last pressure check',
    labelNames: ['map_name'],
    read: () => maps.lastPressure().map((x) => [{ map_name: x.name }, x.ratio] as const),
  });
  // cellium_metrics holds at most 1024 keys: each counter walks it (a few batch reads).
  const drop = (what: 'count' | 'bytes') => () =>
    [...datapathTotals(maps).drops.values()].map(
      (t) => [{ reason: t.reason, direction: t.direction }, Number(t[what])] as const,
    );
  const forward = (what: 'count' | 'bytes') => () =>
    [...datapathTotals(maps).forwards.values()].map(
      (t) => [{ direction: t.direction }, Number(t[what])] as const,
    );
  metrics.counterFrom({
    name: 'cellium_drop_count_total',
    help: 'Packets dropped by the datapath, by reason and direction',
    labelNames: ['reason', 'direction'],
    read: drop('count'),
  });
  metrics.counterFrom({
    name: 'cellium_drop_bytes_total',
    help: 'Bytes of packets dropped by the datapath, by reason and direction',
    labelNames: ['reason', 'direction'],
    read: drop('bytes'),
  });
  metrics.counterFrom({
    name: 'cellium_forward_count_total',
    help: 'Packets forwarded by the datapath, by direction',
    labelNames: ['direction'],
    read: forward('count'),
  });
  metrics.counterFrom({
    name: 'cellium_forward_bytes_total',
    help: 'Bytes of packets forwarded by the datapath, by direction',
    labelNames: ['direction'],
    read: forward('bytes'),
  });
}
