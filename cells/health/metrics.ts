// The health cell's metrics, as Cilium's (pkg/health/server): read from the last probe round
// when scraped, so a round costs nothing more and a scrape never probes.
import type { HealthModel } from '../../core/api/index.js';
import type { Metrics } from '../metrics/index.js';
import { pathOk, type ProbeRound } from './prober.js';

type NodeStatus = HealthModel<'NodeStatus'>;
type PathStatus = HealthModel<'PathStatus'>;

/** What the health cell's metrics read. */
export interface HealthMetricsParams {
  readonly metrics: Metrics | undefined;
  /** The last probe round, if one has ended. */
  readonly round: () => ProbeRound | undefined;
  /** The local node's name (the source of every probe). */
  readonly self: () => string;
}

type Labels =
  'source_node_name' | 'target_node_name' | 'target_node_ip' | 'type' | 'protocol' | 'address_type';

/** Every probed path of a node: its host's (type node) and its health endpoint's (endpoint). */
function paths(n: NodeStatus): { type: string; addressType: string; path: PathStatus }[] {
  const out: { type: string; addressType: string; path: PathStatus }[] = [];
  for (const [type, group] of [
    ['node', n.host],
    ['endpoint', n['health-endpoint']],
  ] as const) {
    const primary = group?.['primary-address'];
    if (primary) out.push({ type, addressType: 'primary', path: primary });
    for (const p of group?.['secondary-addresses'] ?? []) {
      out.push({ type, addressType: 'secondary', path: p });
    }
  }
  return out;
}

/** Whether every path of one kind that was probed answered (undefined: none was probed). */
function reached(n: NodeStatus, type: string): boolean | undefined {
  const ps = paths(n).filter((p) => p.type === type);
  return ps.length === 0 ? undefined : ps.every((p) => pathOk(p.path));
}

/**
 * Cilium's `unreachable_nodes` (nodes whose host did not answer every probe),
 * `unreachable_health_endpoints` (the same for their health endpoints) and
 * `node_connectivity_latency_seconds` (each answered probe of the last round).
 */
export function registerHealthMetrics(p: HealthMetricsParams): void {
  const { metrics, round } = p;
  if (!metrics) return;
  const unreachable = (type: string) => () => [
    [{}, (round()?.nodes ?? []).filter((n) => reached(n, type) === false).length] as const,
  ];
  metrics.gaugeFrom({
    name: 'cellium_unreachable_nodes',
    help: 'Number of nodes that did not answer every probe of the last health round',
    read: unreachable('node'),
  });
  metrics.gaugeFrom({
    name: 'cellium_unreachable_health_endpoints',
    help: "Number of nodes' health endpoints that did not answer every probe of the last health round",
    read: unreachable('endpoint'),
  });
  metrics.gaugeFrom<Labels>({
    name: 'cellium_node_connectivity_latency_seconds',
    help: 'Round-trip time of the last answered health probe, by target node and IP, type, protocol and address type',
    labelNames: [
      'source_node_name',
      'target_node_name',
      'target_node_ip',
      'type',
      'protocol',
      'address_type',
    ],
    read: () => {
      const source = p.self();
      return (round()?.nodes ?? []).flatMap((n) =>
        paths(n).flatMap(({ type, addressType, path }) =>
          (['icmp', 'http'] as const).flatMap((protocol) => {
            const s = path[protocol];
            if (s?.status !== '' || s.latency === undefined) return [];
            const labels = {
              source_node_name: source,
              target_node_name: n.name ?? '',
              target_node_ip: path.ip ?? '',
              type,
              protocol,
              address_type: addressType,
            };
            return [[labels, s.latency / 1e9] as const];
          }),
        ),
      );
    },
  });
}
