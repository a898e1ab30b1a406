// The load balancer's desired state: services, their frontends and their backends, as the
// Writer keeps them in the services, frontends and backends tables (Cilium's model).
import { flat } from '../../core/flat.js';
import type { Status } from '../../core/reconciler/index.js';

/** An L4 protocol as the API names it; `any` matches every protocol (proto 0 in the maps). */
export type L4Type = 'tcp' | 'udp' | 'any';

/** The IP protocol number a services key carries for each L4 type. */
export const PROTO: Readonly<Record<L4Type, number>> = { tcp: 6, udp: 17, any: 0 };

/** Which backends a lookup of a frontend sees: external (from outside the node) or internal. */
export type Scope = 'external' | 'internal';

/** Kubernetes' service types, as Cilium's API names them. */
export type ServiceType =
  'ClusterIP' | 'NodePort' | 'ExternalIPs' | 'HostPort' | 'LoadBalancer' | 'LocalRedirect';

/** externalTrafficPolicy / internalTrafficPolicy. */
export type TrafficPolicy = 'Cluster' | 'Local';

/** A backend's state: only active ones take new connections. */
export type BackendState = 'active' | 'terminating' | 'quarantined' | 'maintenance';

/** How a service picks a backend for a new flow. */
export type LbAlgorithm = 'random' | 'maglev';

/** An address, port, protocol and scope: what a frontend is (a backend's scope is external). */
export interface L3n4Addr {
  readonly ip: string;
  readonly port: number;
  readonly protocol: L4Type;
  readonly scope: Scope;
}

/** `10.0.0.1:80/TCP`, `[fd00::1]:80/UDP`, with `/i` for the internal scope: a frontend's key. */
export function addrKey(a: L3n4Addr): string {
  const host = a.ip.includes(':') ? `[${a.ip}]` : a.ip;
  return flat(`${host}:${a.port}/${a.protocol.toUpperCase()}${a.scope === 'internal' ? '/i' : ''}`);
}

/** Whether an address is IPv6. */
export function isV6(ip: string): boolean {
  return ip.includes(':');
}

/** A service: what its frontends share. */
export interface Service {
  /** `namespace/name` (with `cluster/` when set); API services without a name: `:api:<id>`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly cluster: string;
  /** Who wrote it ('api' today; Kubernetes later). */
  readonly source: string;
  readonly extTrafficPolicy: TrafficPolicy;
  readonly intTrafficPolicy: TrafficPolicy;
  readonly natPolicy: '' | 'Nat46' | 'Nat64';
  readonly healthCheckNodePort: number;
  readonly sessionAffinity: boolean;
  /** Seconds a client sticks to its backend (sessionAffinityConfig.clientIP.timeoutSeconds). */
  readonly sessionAffinityTimeoutSec: number;
  /** loadBalancerSourceRanges, canonical CIDRs; empty: everyone. */
  readonly sourceRanges: readonly string[];
  /** The service's own algorithm, over --bpf-lb-algorithm; undefined: the flag's. */
  readonly algorithm: LbAlgorithm | undefined;
  /** Kubernetes' metadata.labels (BGP's serviceSelector matches them); API services have none. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A backend as a frontend uses it: the backend and its state and weight for that service. */
export interface FrontendBackend {
  /** The backend's key (`10.1.0.1:8080/TCP`). */
  readonly key: string;
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly protocol: L4Type;
  readonly state: BackendState;
  readonly weight: number;
  readonly zone: string;
  readonly nodeName: string;
}

/** What the last successful reconcile of a frontend wrote (GET /service's status.realized). */
export interface RealizedFrontend {
  readonly type: ServiceType;
  readonly service: Service;
  readonly backends: readonly FrontendBackend[];
}

/** A frontend: an address of a service, its id and the backends it selects. */
export interface Frontend {
  readonly key: string;
  readonly address: L3n4Addr;
  readonly type: ServiceType;
  readonly serviceKey: string;
  /** Selects the service's backends of this port name ('' selects all). */
  readonly portName: string;
  /** The service id: the key of its reverse NAT entry; allocated by the Writer. */
  readonly id: number;
  /** The service row it belongs to (a change to the service re-reconciles its frontends). */
  readonly service: Service;
  /** The backends selected, active first, then by address: the order of the service slots. */
  readonly backends: readonly FrontendBackend[];
  readonly status: Status;
  readonly realized?: RealizedFrontend;
}

/** What one service says about a backend. */
export interface BackendInstance {
  readonly serviceKey: string;
  readonly portName: string;
  readonly state: BackendState;
  readonly weight: number;
  readonly zone: string;
  readonly nodeName: string;
}

/** A backend: an address and port used by one or more services. */
export interface Backend {
  /** `10.1.0.1:8080/TCP` (a backend's protocol is its frontend's). */
  readonly key: string;
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly protocol: L4Type;
  readonly instances: readonly BackendInstance[];
}

/** The key of a backend address. */
export function backendKey(ip: string, port: number, protocol: L4Type): string {
  return addrKey({ ip, port, protocol, scope: 'external' });
}

/** Whether a frontend of this type is reached from outside the node. */
export function externallyReachable(t: ServiceType): boolean {
  return t === 'NodePort' || t === 'LoadBalancer' || t === 'ExternalIPs' || t === 'HostPort';
}

const STATE_ORDER: Readonly<Record<BackendState, number>> = {
  active: 0,
  terminating: 1,
  quarantined: 2,
  maintenance: 3,
};

/** Slot order: active backends first, then by state, address and port (stable in the maps). */
export function compareBackends(a: FrontendBackend, b: FrontendBackend): number {
  return (
    STATE_ORDER[a.state] - STATE_ORDER[b.state] ||
    (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0) ||
    a.port - b.port
  );
}
