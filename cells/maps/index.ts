export { mapsCell } from './cell.js';
export { MapsConfig } from './config.js';
export { DatapathMaps, Maps, PRESSURE_THRESHOLD, type MapPressure } from './maps.js';
export {
  desiredAction,
  MapCacheRegistry,
  MapCaches,
  reconciledCache,
  type CacheEntry,
  type MapCacheSource,
} from './cache.js';
export type { DesiredAction, MapEntryEvent } from './events.js';
export * from './defs.js';
export { openOwnedMaps, type OwnedMapSpec, type OwnedMaps } from './owned.js';
export {
  AGGREGATION,
  EVENTS_LOST_MAP,
  EVENTS_RING_DEFAULT,
  eventsMapSpec,
  MONITOR_CONFIG_MAP,
  MonitorMaps,
  type AggregationLevel,
  type MonitorConfigValue,
} from './monitor-maps.js';
