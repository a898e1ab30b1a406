export { policyMapCell } from './cell.js';
export { PolicyMapConfig } from './config.js';
export { PolicyMaps } from './policymaps.js';
export * from './maps.js';
