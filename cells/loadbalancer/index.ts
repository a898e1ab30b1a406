export { loadbalancerCell, Loadbalancer } from './cell.js';
export { LbConfig, lbFeatures } from './config.js';
export { LbMaps, LbMapWrap, type LbMapSet, type LbFamilyMaps } from './lbmaps.js';
export { LbLinks } from './devices.js';
export { LbTables } from './tables.js';
export {
  LbWriter,
  LbWriteError,
  type LbWriteTxn,
  type FrontendParams,
  type BackendParams,
} from './writer.js';
export { ServiceManager } from './services.js';
export { SOCK_PROGRAMS } from './socklb.js';
export * from './model.js';
export * from './maps.js';
