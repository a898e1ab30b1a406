export { endpointCell, EndpointTable, HostLinks } from './cell.js';
export { EndpointConfig } from './config.js';
export { parseEndpointRef, type EndpointRef } from './ids.js';
export { EndpointManager } from './manager.js';
export type { Endpoint, EndpointState } from './model.js';
export type { HostLink } from './validate.js';
export { EndpointPolicyStatus, type EndpointPolicyState } from './policy-status.js';
