import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The Kubernetes cell's flags (Cilium's names). */
export const k8sFlags = {
  'k8s-kubeconfig-path': flag.string(
    '',
    'Kubeconfig file of the cluster to join (Kubernetes mode); empty: in-cluster service account when run in a pod (KUBERNETES_SERVICE_HOST), else embedded mode',
  ),
  'k8s-api-server': flag.string(
    '',
    'URL of the Kubernetes API server, overriding the kubeconfig or in-cluster address',
  ),
  'enable-k8s': flag.bool(
    true,
    'Use Kubernetes when a kubeconfig, an API server or an in-cluster service account is there; false: embedded mode always',
  ),
  'skip-crd-creation': flag.bool(
    false,
    'Do not register the Cilium CRDs at start; only check that they are registered',
  ),
  'k8s-watch-backoff-max': flag.duration(
    '30s',
    'Longest wait between attempts to list or watch a resource after an error',
    { min: '10ms' },
  ),
} as const;

/** The Kubernetes cell's configuration. */
export type K8sConfig = ConfigOf<typeof k8sFlags>;

/** The Kubernetes cell's configuration. */
export const K8sConfig = token<K8sConfig>('k8s/K8sConfig');
