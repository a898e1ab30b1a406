export { K8sConfig } from './config.js';
export * from './types.js';
export {
  newK8sTables,
  BY_NAMESPACE,
  BY_SERVICE,
  SERVICE_NAME_LABEL,
  type K8sTables,
} from './tables.js';
