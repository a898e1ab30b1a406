export { mapsCell } from './cell.js';
export { MapsConfig } from './config.js';
export { DatapathMaps, Maps } from './maps.js';
export * from './defs.js';
