export { conntrackCell } from './cell.js';
export { CtConfig } from './config.js';
export { CtMaps, type CtFamilyMaps } from './ctmaps.js';
export { CtGc } from './collector.js';
export { forgetAddresses } from './gc.js';
export * from './maps.js';
