// The monitor's metrics, read at scrape time: datapath events read by type, events lost (the
// ring was full, or a client's queue was) and the clients listening.
import type { Metrics } from '../metrics/index.js';
import type { Monitor } from './monitor.js';

/** Registers the monitor's metrics when the metrics cell is in the hive. */
export function registerMonitorMetrics(p: {
  readonly metrics: Metrics | undefined;
  readonly monitor: Monitor;
}): void {
  const { metrics, monitor } = p;
  if (!metrics) return;
  metrics.counterFrom({
    name: 'cellium_monitor_events_total',
    help: 'Datapath events read from cellium_events, by type',
    labelNames: ['type'],
    read: () =>
      Object.entries(monitor.counts().receivedByType).map(([type, n]) => [{ type }, n] as const),
  });
  metrics.counterFrom({
    name: 'cellium_monitor_lost_events_total',
    help: 'Monitor events lost: the ring was full (datapath) or a client read too slowly (client)',
    labelNames: ['source'],
    read: () => {
      const c = monitor.counts();
      return [
        [{ source: 'datapath' }, c.datapathLost],
        [{ source: 'client' }, c.clientLost],
      ] as const;
    },
  });
  metrics.gaugeFrom({
    name: 'cellium_monitor_listeners',
    help: 'Clients connected to the monitor socket',
    read: () => [[{}, monitor.counts().listeners]] as const,
  });
}
