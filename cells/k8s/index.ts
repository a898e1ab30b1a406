export { k8sCell } from './cell.js';
export { K8sConfig } from './config.js';
export * from './types.js';
export {
  newK8sTables,
  BY_NAMESPACE,
  BY_SERVICE,
  SERVICE_NAME_LABEL,
  type K8sTables,
} from './tables.js';
export { AccessRules, requestAttributes } from './access.js';
export { CRD_FILES, CRD_SCHEMA_VERSION_LABEL, crdManifests } from './crds.js';
