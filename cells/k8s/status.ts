// /healthz `kubernetes` and /config `k8s-endpoint` / `k8s-configuration`, as Cilium's.
import type { StatusContribution } from '../daemon/index.js';
import type { K8sConfig } from './config.js';
import type { K8sConnection } from './connection.js';

/** The cell's contribution to the daemon's answers. */
export function k8sStatus(conn: K8sConnection, config: K8sConfig): StatusContribution {
  const client = conn.client;
  return {
    status: (s) => {
      s.kubernetes = client
        ? client.status()
        : { state: 'Disabled', msg: 'Disabled (embedded mode)', 'k8s-api-versions': [] };
    },
    config: (c) => {
      if (!client) return;
      c['k8s-endpoint'] = client.target();
      c['k8s-configuration'] = config.k8sKubeconfigPath;
    },
  };
}
