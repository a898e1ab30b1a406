export { monitorCell } from './cell.js';
export { MonitorConfig, MONITOR_SOCKET_NAME, monitorSocketPath } from './config.js';
export { Monitor, type MonitorCounts } from './monitor.js';
export * from './decode.js';
export { parseFilter, matches, type MonitorFilter } from './filter.js';
export { summary, type IdentityName } from './format.js';
export { decodePacket, layersText, type DecodedPacket, type PacketLayer } from './packet.js';
export * from './defs.js';
