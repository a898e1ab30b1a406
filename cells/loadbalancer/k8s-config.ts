// The load balancer's Kubernetes-mode flags (Cilium's names and defaults).
import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** Flags of the Services and EndpointSlices reflector. */
export const lbK8sFlags = {
  'enable-service-topology': flag.bool(
    false,
    "Topology aware routing: a service annotated service.kubernetes.io/topology-mode (or trafficDistribution PreferClose) uses the endpoints hinted for this node's zone (its topology.kubernetes.io/zone label)",
  ),
} as const;

/** The reflector's configuration. */
export type LbK8sConfig = ConfigOf<typeof lbK8sFlags>;

/** The reflector's configuration. */
export const LbK8sConfig = token<LbK8sConfig>('loadbalancer/LbK8sConfig');
