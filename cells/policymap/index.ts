export { policyMapCell } from './cell.js';
export { PolicyMapConfig } from './config.js';
export { DropEvents } from './drops.js';
export { formatDrop } from './format.js';
export { PolicyMaps } from './policymaps.js';
export * from './maps.js';
