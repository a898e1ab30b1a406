export { prefilterCell } from './cell.js';
export { PrefilterConfig } from './config.js';
export { Prefilter, DISABLED as PREFILTER_DISABLED } from './prefilter.js';
export { CIDR_V4_MAP, CIDR_V6_MAP, type LpmV4Key, type LpmV6Key, type LpmVal } from './maps.js';
export { REASON_PREFILTER_DENIED } from './metrics.js';
