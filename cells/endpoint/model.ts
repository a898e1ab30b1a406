import type { Model } from '../../core/api/index.js';
import {
  ENDPOINT_OPTIONS,
  optionsModel,
  parseOptionValue,
  type OptionSetting,
  type RuntimeOption,
} from '../../core/hive/options.js';
import { statusPending, type Status } from '../../core/reconciler/index.js';
import { mergeLabels, type NamedPort } from './k8s-labels.js';

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
  /** The workload's process, when the runtime gave it; the cgroup cell finds the pod's cgroup. */
  readonly pid?: number;
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
  /**
   * Kubernetes mode: the identity labels its pod and namespace give it (`k8s-labels.ts`),
   * `reserved:init` while the pod is not known; they win over the request's on the same key.
   */
  readonly k8sLabels?: readonly string[];
  /** Kubernetes mode: the pod's named container ports. */
  readonly namedPorts?: readonly NamedPort[];
  readonly identity: number;
  readonly state: EndpointState;
  readonly options: Readonly<Record<string, string>>;
  readonly externalIpam: boolean;
  readonly log: readonly LogEntry[];
  readonly createdAt: string;
  /** Datapath reconcile status (lxc entries, ipcache, program attached). */
  readonly status: Status;
  /** The revision the pending (or last) regeneration realizes; bumped by each request. */
  readonly revision?: number;
  /** The revision the last completed regeneration realized (`policy-revision`). */
  readonly policyRevision?: number;
}

/** What is kept on disk for restore: everything but the runtime state, log, status, revisions. */
export type PersistedEndpoint = Omit<
  Endpoint,
  'state' | 'log' | 'status' | 'revision' | 'policyRevision'
>;

/** A new endpoint's options (the changeable ones of Cilium's endpoint option library). */
export const DEFAULT_ENDPOINT_OPTIONS: Readonly<Record<string, string>> = optionsModel(
  ENDPOINT_OPTIONS,
  (o) => o.default,
).options;

/**
 * An endpoint option's value: what was stored for a changeable one (state from older agents may
 * hold other names or read-only ones: they are not taken), else its default.
 */
export function endpointOptionValue(
  ep: Pick<Endpoint, 'options'>,
  opt: RuntimeOption,
): OptionSetting {
  const stored = opt.readOnly === undefined ? ep.options[opt.name] : undefined;
  if (stored === undefined) return opt.default;
  try {
    return parseOptionValue(opt, stored);
  } catch {
    return opt.default;
  }
}

/** The endpoint's options as Cilium's models show them: changeable, and read-only apart. */
export function endpointOptions(ep: Pick<Endpoint, 'options'>): {
  options: Record<string, string>;
  immutable: Record<string, string>;
} {
  return optionsModel(ENDPOINT_OPTIONS, (o) => endpointOptionValue(ep, o));
}

/** Whether the endpoint's own Debug option is on. */
export function endpointDebug(ep: Pick<Endpoint, 'options'>): boolean {
  const opt = ENDPOINT_OPTIONS.find((o) => o.name === 'Debug');
  return opt !== undefined && endpointOptionValue(ep, opt) !== 0;
}

/** A copy of `ep` with the next revision: its next regeneration realizes it. */
export function bumpRevision(ep: Endpoint): Endpoint {
  return { ...ep, revision: Math.max(ep.revision ?? 0, ep.policyRevision ?? 0) + 1 };
}

/**
 * A copy of `ep` queued for regeneration: the next revision, the datapath to be realized again,
 * and Cilium's state transitions (waiting-to-regenerate, then regenerating) logged with `reason`.
 */
export function requestRegeneration(ep: Endpoint, reason: string): Endpoint {
  const queued = transition(
    { ...bumpRevision(ep), status: statusPending() },
    'waiting-to-regenerate',
    `Triggering endpoint regeneration due to ${reason}`,
  );
  return transition(queued, 'regenerating', `Regenerating endpoint: ${reason}`);
}

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
  ep: Pick<Endpoint, 'labels' | 'userLabels' | 'k8sNamespace' | 'k8sLabels'>,
): string[] {
  const orchestrator = ep.k8sLabels ? mergeLabels(ep.labels, ep.k8sLabels) : ep.labels;
  if (orchestrator.length === 1 && orchestrator[0] === 'reserved:init') return ['reserved:init'];
  const out = new Set(
    [...orchestrator, ...ep.userLabels].map((l) => l.trim()).filter((l) => l !== ''),
  );
  if (ep.k8sNamespace !== '') out.add(`k8s:io.kubernetes.pod.namespace=${ep.k8sNamespace}`);
  if (out.size === 0) out.add('reserved:init');
  return [...out].sort();
}
