// The metrics the endpoint cell and its neighbours own (ipam, identity, maps, the reconcilers),
// in an endpoint hive with the metrics cell; the hives of the other tests run without it.
import { describe, expect, it } from 'vitest';
import { dumpMetrics, Metrics, metricsCell } from '../metrics/index.js';
import { DatapathMaps, METRIC, REASON } from '../maps/index.js';
import { call, epHive, request } from './fixtures.js';

type Row = { name: string; labels: Record<string, string>; value: number };

async function metricsOf(h: ReturnType<typeof epHive>): Promise<Row[]> {
  return (await dumpMetrics(h.get(Metrics).registry)) as Row[];
}

function value(rows: readonly Row[], name: string, labels: Record<string, string> = {}) {
  return rows.find(
    (r) => r.name === name && Object.entries(labels).every(([k, v]) => r.labels[k] === v),
  )?.value;
}

describe('the metrics of the endpoint cell and its neighbours', () => {
  it('count endpoints by state, regenerations, identities, IPs, map writes and datapath counters', async () => {
    const h = epHive(undefined, { extra: [metricsCell] });
    await h.requireStart();
    let rows = await metricsOf(h);
    expect(value(rows, 'cellium_endpoint_state', { endpoint_state: 'ready' })).toBe(0);
    expect(value(rows, 'cellium_ip_addresses', { family: 'ipv4' })).toBe(0);
    // 10.9.0.0/24: the network, router and broadcast addresses are never handed out
    expect(value(rows, 'cellium_ipam_capacity', { family: 'ipv4' })).toBe(253);
    expect(value(rows, 'cellium_identity', { type: 'cluster_local' })).toBe(0);
    const reserved = value(rows, 'cellium_identity', { type: 'reserved' }) ?? 0;
    expect(reserved).toBeGreaterThan(0);

    for (const n of [1, 2]) {
      expect((await call(h, 'PUT', '/endpoint/cilium-local:0', request(n))).status).toBe(201);
    }
    rows = await metricsOf(h);
    expect(value(rows, 'cellium_endpoint')).toBe(2);
    expect(value(rows, 'cellium_endpoint_state', { endpoint_state: 'ready' })).toBe(2);
    expect(value(rows, 'cellium_endpoint_regenerations_total', { outcome: 'success' })).toBe(2);
    expect(value(rows, 'cellium_endpoint_regenerations_total', { outcome: 'fail' })).toBe(0);
    const regen = { scope: 'total', status: 'success' };
    expect(value(rows, 'cellium_endpoint_regeneration_time_stats_seconds', regen)).toBeGreaterThan(
      0,
    );
    expect(value(rows, 'cellium_ip_addresses', { family: 'ipv4' })).toBe(2);
    expect(value(rows, 'cellium_ipam_free', { family: 'ipv4' })).toBe(251);
    expect(value(rows, 'cellium_identity', { type: 'cluster_local' })).toBe(1);
    // two lxc entries written, nothing failed
    const lxc = { map_name: 'cellium_lxc', operation: 'update' };
    expect(value(rows, 'cellium_bpf_map_ops_total', { ...lxc, outcome: 'success' })).toBe(2);
    expect(value(rows, 'cellium_bpf_map_ops_total', { ...lxc, outcome: 'fail' })).toBe(0);
    // the reconcilers of the endpoints and ipcache tables reported their rounds
    const tables = new Set(
      rows
        .filter((r) => r.name === 'cellium_reconciler_incremental_duration_seconds')
        .map((r) => r.labels.table),
    );
    expect(tables).toContain('endpoints');
    expect(tables).toContain('ipcache');

    // The datapath's counters, summed over CPUs, as the programs leave them in cellium_metrics.
    const maps = h.get(DatapathMaps);
    const ncpu = maps.metrics.raw.ncpus;
    const perCpu = (count: bigint, bytes: bigint) =>
      Array.from({ length: ncpu }, (_, i) =>
        i === 0 ? { count, bytes } : { count: 1n, bytes: 10n },
      );
    maps.metrics.update({ reason: REASON.FORWARDED, dir: METRIC.EGRESS }, perCpu(5n, 500n));
    maps.metrics.update({ reason: REASON.POLICY_DENIED, dir: METRIC.INGRESS }, perCpu(2n, 84n));
    maps.metrics.update({ reason: REASON.LB_TRANSLATED, dir: METRIC.SERVICE }, perCpu(7n, 0n));
    rows = await metricsOf(h);
    const more = ncpu - 1;
    expect(value(rows, 'cellium_forward_count_total', { direction: 'EGRESS' })).toBe(5 + more);
    expect(value(rows, 'cellium_forward_bytes_total', { direction: 'EGRESS' })).toBe(
      500 + 10 * more,
    );
    const denied = { reason: 'Policy denied', direction: 'INGRESS' };
    expect(value(rows, 'cellium_drop_count_total', denied)).toBe(2 + more);
    expect(value(rows, 'cellium_drop_bytes_total', denied)).toBe(84 + 10 * more);
    // the load balancer's events are neither forwards nor drops
    expect(rows.filter((r) => r.labels.direction === 'SERVICE')).toEqual([]);

    // Pressure as the last check found it: 3 of cellium_metrics' 1024 entries.
    await maps.checkPressure();
    rows = await metricsOf(h);
    expect(value(rows, 'cellium_bpf_map_pressure', { map_name: 'cellium_metrics' })).toBeCloseTo(
      3 / 1024,
    );

    expect((await call(h, 'DELETE', '/endpoint/container-id:c1')).status).toBe(200);
    rows = await metricsOf(h);
    expect(value(rows, 'cellium_endpoint_state', { endpoint_state: 'ready' })).toBe(1);
    expect(value(rows, 'cellium_ip_addresses', { family: 'ipv4' })).toBe(1);
    const del = { map_name: 'cellium_lxc', operation: 'delete', outcome: 'success' };
    expect(value(rows, 'cellium_bpf_map_ops_total', del)).toBe(1);
  });
});
