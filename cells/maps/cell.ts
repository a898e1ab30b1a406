import { MapRegistry } from '../../core/bpf/index.js';
import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors, StatusProbes } from '../daemon/index.js';
import { Metrics } from '../metrics/index.js';
import { bpfMapStatus, DumpQueue, getMap, listMaps, mapEvents, mapsText } from './api.js';
import { MapCacheRegistry, MapCaches } from './cache.js';
import { eventBuffers, mapsFlags, MapsConfig } from './config.js';
import {
  DatapathMaps,
  Maps,
  newDatapathMaps,
  PRESSURE_INTERVAL_MS,
  PRESSURE_TIMEOUT_MS,
} from './maps.js';
import { registerMapsMetrics } from './metrics.js';
import { MonitorMaps, newMonitorMaps } from './monitor-maps.js';

/** The agent's BPF maps: created or reopened from their pins, listed by GET /v1/map. */
export const mapsCell = module(
  'maps',
  'BPF maps pinned under bpffs, kernel or in-memory',
  // --bpf-root, --bpf-backend, --bpf-{lxc,ipcache,metrics}-map-max, --bpf-map-event-buffers,
  // --bpf-events-ring-size
  config(MapsConfig, mapsFlags),
  // Every map the agent owns; cells add their own maps here.
  provide(Maps, {}, () => new MapRegistry()),
  // cellium_lxc, cellium_ipcache, cellium_metrics: opened (pins reused or migrated) at start,
  // pins kept at stop; one health report per map.
  provide(
    DatapathMaps,
    { config: MapsConfig, registry: Maps, lifecycle: Lifecycle, health: Health, logger: Logger },
    newDatapathMaps,
  ),
  // cellium_events (--bpf-events-ring-size), cellium_monitor_config, cellium_events_lost: what
  // every program reports monitor events with; the monitor cell reads the ring.
  provide(
    MonitorMaps,
    { config: MapsConfig, maps: DatapathMaps, lifecycle: Lifecycle },
    ({ config, ...p }) => newMonitorMaps({ ...p, ringBytes: config.bpfEventsRingSize }),
  ),
  // Each map's cache and event buffer, registered by the cell that writes the map from desired
  // state (endpoint: cellium_lxc, ipcache: cellium_ipcache); follow streams end at stop.
  provide(MapCaches, { config: MapsConfig, lifecycle: Lifecycle }, ({ config, lifecycle }) => {
    const caches = new MapCacheRegistry(eventBuffers(config.bpfMapEventBuffers));
    lifecycle.append({ onStop: () => caches.close() }, 'event-streams');
    return caches;
  }),
  invoke(
    'routes',
    { routes: ApiRoutes, registry: Maps, caches: MapCaches, maps: DatapathMaps, logger: Logger },
    ({ routes, registry, caches, logger }) => {
      const dumps = new DumpQueue();
      routes.handle(
        'GetMap',
        async () => ({ status: 200, body: await dumps.run(() => listMaps(registry, caches)) }),
        'maps',
      );
      routes.handle(
        'GetMapName',
        async (req) => ({
          status: 200,
          body: await dumps.run(() => getMap(registry, caches, req.params.name)),
        }),
        'maps',
      );
      routes.handle(
        'GetMapNameEvents',
        (req) => ({
          status: 200,
          body: mapEvents(registry, caches, logger, req.params.name, req.query.follow === true),
        }),
        'maps',
      );
    },
  ),
  // cellium_bpf_map_ops_total, cellium_bpf_map_pressure, cellium_{drop,forward}_*_total.
  invoke(
    'metrics',
    { metrics: optional(Metrics), registry: Maps, maps: DatapathMaps },
    registerMapsMetrics,
  ),
  // /healthz bpf-maps: each map's size, and how full it was at the last count.
  // /debuginfo: each map's pin and entries.
  invoke(
    'status',
    {
      status: StatusContributors,
      probes: StatusProbes,
      registry: Maps,
      maps: DatapathMaps,
      daemon: DaemonConfig,
    },
    ({ status, probes, registry, maps, daemon }) => {
      const ratio = daemon.bpfMapDynamicSizeRatio;
      status.add({
        status: (s) => {
          s['bpf-maps'] = bpfMapStatus(registry, ratio);
        },
        debug: (d) => {
          d.subsystem = { ...d.subsystem, maps: mapsText(registry) };
        },
      });
      // Counting reads every entry (the kernel's maps): a probe, every 30 s and at once after a
      // write found a map full; degraded health at 90%.
      probes.add({
        name: 'bpf-maps',
        intervalMs: PRESSURE_INTERVAL_MS,
        timeoutMs: PRESSURE_TIMEOUT_MS,
        trigger: maps.full,
        probe: () => maps.checkPressure(),
        apply: (s, last) => {
          s['bpf-maps'] = bpfMapStatus(registry, ratio, last);
        },
      });
    },
  ),
);
