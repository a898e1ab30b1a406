export { routingCell } from './cell.js';
export { RoutingConfig, ROUTING_MODES, type RoutingMode } from './config.js';
export { ROUTING_MAP, RoutingMaps, type RoutingConfigValue } from './maps.js';
export { RTPROT_CELLIUM } from './routes.js';
export { TUNNEL_DEVICE } from './tunnel.js';
export { Routing, VXLAN_OVERHEAD } from './routing.js';
