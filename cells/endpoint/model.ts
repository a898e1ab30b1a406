import type { Model } from '../../core/api/index.js';
import type { Status } from '../../core/reconciler/index.js';

/** Cilium's endpoint states. */
export type EndpointState = Model<'EndpointState'>;

/** One entry of an endpoint's status log. */
export interface LogEntry {
  readonly timestamp: string;
  readonly code: 'ok' | 'failed';
  readonly message: string;
  readonly state: EndpointState;
}

/** Everything the agent keeps about an endpoint; also what is persisted across restarts. */
export interface Endpoint {
  readonly id: number;
  readonly containerId: string;
  readonly containerName: string;
  readonly containerInterfaceName: string;
  readonly dockerEndpointId: string;
  readonly cniAttachmentId: string;
  readonly k8sNamespace: string;
  readonly k8sPodName: string;
  readonly k8sUid: string;
  readonly ifName: string;
  readonly ifIndex: number;
  readonly mac: string;
  readonly hostMac: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** Labels from the orchestrator (and the request). */
  readonly labels: readonly string[];
  /** Labels the user added with PATCH .../labels. */
  readonly userLabels: readonly string[];
  readonly identity: number;
  readonly state: EndpointState;
  readonly options: Readonly<Record<string, string>>;
  readonly externalIpam: boolean;
  readonly log: readonly LogEntry[];
  readonly createdAt: string;
  /** Datapath reconcile status (lxc entries, ipcache, program attached). */
  readonly status: Status;
}

/** What is kept on disk for restore: everything but the runtime state, log and datapath status. */
export type PersistedEndpoint = Omit<Endpoint, 'state' | 'log' | 'status'>;

/** Options an endpoint can change at runtime (PATCH .../config), with their defaults. */
export const ENDPOINT_OPTIONS: Readonly<Record<string, string>> = {
  Debug: 'Disabled',
  DropNotification: 'Enabled',
  TraceNotification: 'Enabled',
  PolicyVerdictNotification: 'Enabled',
  PolicyAuditMode: 'Disabled',
};

/** How many status log entries are kept per endpoint. */
export const LOG_SIZE = 32;

/** A copy of `ep` that moved to `state`, with the transition logged. */
export function transition(
  ep: Endpoint,
  state: EndpointState,
  message: string,
  code: LogEntry['code'] = 'ok',
): Endpoint {
  const entry: LogEntry = { timestamp: new Date().toISOString(), code, message, state };
  return { ...ep, state, log: [...ep.log, entry].slice(-LOG_SIZE) };
}

/** Who an endpoint's IPs are allocated to in IPAM: the pod, else the container, else the id. */
export function owner(
  ep: Pick<Endpoint, 'k8sNamespace' | 'k8sPodName' | 'containerId' | 'id'>,
): string {
  if (ep.k8sPodName !== '') return `${ep.k8sNamespace}/${ep.k8sPodName}`;
  return ep.containerId !== '' ? ep.containerId : `endpoint ${ep.id}`;
}

/** The endpoint's IPs (IPv4 and/or IPv6). */
export function endpointIps(ep: Pick<Endpoint, 'ipv4' | 'ipv6'>): string[] {
  return [ep.ipv4, ep.ipv6].filter((ip) => ip !== '');
}

/** The endpoint's identity-relevant labels: its labels, user labels and namespace. */
export function securityLabels(
  ep: Pick<Endpoint, 'labels' | 'userLabels' | 'k8sNamespace'>,
): string[] {
  const out = new Set(
    [...ep.labels, ...ep.userLabels].map((l) => l.trim()).filter((l) => l !== ''),
  );
  if (ep.k8sNamespace !== '') out.add(`k8s:io.kubernetes.pod.namespace=${ep.k8sNamespace}`);
  if (out.size === 0) out.add('reserved:init');
  return [...out].sort();
}
