export { endpointCell, EndpointTable } from './cell.js';
export { EndpointConfig } from './config.js';
export { parseEndpointRef, type EndpointRef } from './ids.js';
export { EndpointManager } from './manager.js';
export type { Endpoint, EndpointState } from './model.js';
