import { MapRegistry } from '../../core/bpf/index.js';
import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { getMap, listMaps, mapEvents } from './api.js';
import { mapsFlags, MapsConfig } from './config.js';
import { DatapathMaps, Maps, newDatapathMaps } from './maps.js';

/** The agent's BPF maps: created or reopened from their pins, listed by GET /v1/map. */
export const mapsCell = module(
  'maps',
  'BPF maps pinned under bpffs, kernel or in-memory',
  // --bpf-root, --bpf-backend
  config(MapsConfig, mapsFlags),
  // Every map the agent owns; cells add their own maps here.
  provide(Maps, {}, () => new MapRegistry()),
  // cellium_lxc, cellium_ipcache, cellium_metrics: opened at start, pins kept at stop.
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
);
