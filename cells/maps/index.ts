export { mapsCell } from './cell.js';
export { MapsConfig } from './config.js';
export { DatapathMaps, Maps, PRESSURE_THRESHOLD, type MapPressure } from './maps.js';
export * from './defs.js';
