export { K8sConfig } from './config.js';
export * from './types.js';
