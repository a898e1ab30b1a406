import { MapRegistry } from '../../core/bpf/index.js';
import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { StatusContributors } from '../daemon/index.js';
import { bpfMapStatus, getMap, listMaps, mapEvents } from './api.js';
import { mapsFlags, MapsConfig } from './config.js';
import { DatapathMaps, Maps, newDatapathMaps, PRESSURE_INTERVAL_MS } from './maps.js';

/** The agent's BPF maps: created or reopened from their pins, listed by GET /v1/map. */
export const mapsCell = module(
  'maps',
  'BPF maps pinned under bpffs, kernel or in-memory',
  // --bpf-root, --bpf-backend, --bpf-{lxc,ipcache,metrics}-map-max
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
  invoke(
    'routes',
    { routes: ApiRoutes, registry: Maps, maps: DatapathMaps },
    ({ routes, registry }) => {
      routes.handle('GetMap', () => ({ status: 200, body: listMaps(registry) }), 'maps');
      routes.handle(
        'GetMapName',
        (req) => ({ status: 200, body: getMap(registry, req.params.name) }),
        'maps',
      );
      routes.handle(
        'GetMapNameEvents',
        (req) => ({
          status: 200,
          body: mapEvents(registry, req.params.name, req.query.follow === true),
        }),
        'maps',
      );
    },
  ),
  // Counts entries every 30 s and at once after a write found a map full: degraded at 90%.
  invoke('pressure', { maps: DatapathMaps, jobs: Jobs }, ({ maps, jobs }) => {
    jobs.timer('pressure', () => void maps.checkPressure(), PRESSURE_INTERVAL_MS, {
      trigger: maps.full,
    });
  }),
  // /healthz bpf-maps: each map's size.
  invoke('status', { status: StatusContributors, registry: Maps }, ({ status, registry }) => {
    status.add({
      status: (s) => {
        s['bpf-maps'] = bpfMapStatus(registry);
      },
    });
  }),
);
