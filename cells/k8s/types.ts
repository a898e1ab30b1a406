// What other cells see of Kubernetes: the objects the agent keeps (client-node's types, slimmed
// by the reflector), the Cilium CRDs' shapes, the client and the reflected tables.
import type {
  ApiextensionsV1Api,
  ConfigurationOptions,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  NetworkingV1Api,
  V1EndpointSlice,
  V1Namespace,
  V1Node,
  V1NetworkPolicy,
  V1ObjectMeta,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import type { Observable } from 'rxjs';
import { token } from '../../core/hive/index.js';
import type { Table } from '../../core/statedb/index.js';

/**
 * An API type as it is on the wire (JSON): client-node's classes as plain object types, dates as
 * the strings the API server sends. The reflectors keep objects exactly as decoded from JSON.
 */
export type Wire<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T as T[K] extends (...a: never[]) => unknown ? never : K]: Wire<T[K]> }
      : T;

/** Object metadata as on the wire, with the name always set. */
export type ObjectMeta = Wire<V1ObjectMeta> & { name: string };

/** Any object the reflectors keep: metadata (name, namespace, uid, labels...) always set. */
export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy: one rule (`spec`) and/or several (`specs`). */
export interface CiliumPolicyObject extends K8sObject {
  spec?: Record<string, unknown>;
  specs?: Record<string, unknown>[];
}

/** A CiliumIdentity: the id is the name; `security-labels` maps label key (with source) to value. */
export interface CiliumIdentityObject extends K8sObject {
  'security-labels': Record<string, string>;
}

/** The Cilium CRDs' kinds the agent registers (plural, kind, scope). */
export interface CrdInfo {
  readonly plural: string;
  readonly kind: string;
  readonly scope: 'Namespaced' | 'Cluster';
}

/** The objects kept in the reflected tables (client-node's types with a required name). */
export type Pod = Wire<V1Pod> & K8sObject;
export type Namespace = Wire<V1Namespace> & K8sObject;
export type Node = Wire<V1Node> & K8sObject;
export type Service = Wire<V1Service> & K8sObject;
export type EndpointSlice = Wire<V1EndpointSlice> & K8sObject;
export type NetworkPolicy = Wire<V1NetworkPolicy> & K8sObject;

/** One reflected resource: a table of its objects (key: `namespace/name`, or `name`) and its sync state. */
export interface K8sResource<T extends K8sObject> {
  /** The objects, keyed by `namespace/name` (namespaced) or `name` (cluster-scoped). */
  readonly table: Table<T>;
  /** True once the first list is in the table (and again after a re-list completes). */
  synced(): boolean;
  /** Resolves when synced; rejects with the signal's reason when aborted. */
  waitSynced(signal?: AbortSignal): Promise<void>;
}

/** The tables the agent fills from the API server (empty and never synced in embedded mode). */
export interface K8sResources {
  readonly enabled: boolean;
  /** Pods on this node (field selector spec.nodeName=<node-name>). */
  readonly pods: K8sResource<Pod>;
  readonly namespaces: K8sResource<Namespace>;
  readonly nodes: K8sResource<Node>;
  readonly services: K8sResource<Service>;
  readonly endpointSlices: K8sResource<EndpointSlice>;
  readonly networkPolicies: K8sResource<NetworkPolicy>;
  readonly ciliumNetworkPolicies: K8sResource<CiliumPolicyObject>;
  readonly ciliumClusterwideNetworkPolicies: K8sResource<CiliumPolicyObject>;
  readonly ciliumIdentities: K8sResource<CiliumIdentityObject>;
}

/** The key of an object in its table: `namespace/name`, or `name` for cluster-scoped ones. */
export function objectKey(o: K8sObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** The API server connection, Kubernetes mode only. */
export interface K8sClient {
  /** False in embedded mode: every call throws K8sDisabledError. */
  readonly enabled: boolean;
  /** Resolves once the client is loaded and the API server answered /version (retries forever). */
  ready(signal?: AbortSignal): Promise<void>;
  /** True while the last request to the API server got an answer. */
  readonly connected$: Observable<boolean>;
  /** Typed APIs of @kubernetes/client-node (only after ready()). */
  core(): CoreV1Api;
  discovery(): DiscoveryV1Api;
  networking(): NetworkingV1Api;
  custom(): CustomObjectsApi;
  apiextensions(): ApiextensionsV1Api;
  /**
   * Per-call options of a typed API call that abort it when `signal` does (a stopping job's), on
   * top of its timeout; client-node's calls take no signal of their own. Only after ready().
   */
  callOptions(signal: AbortSignal): ConfigurationOptions;
}

/** The API server client. */
export const K8sClient = token<K8sClient>('k8s/K8sClient');
/** The reflected resources. */
export const K8sResources = token<K8sResources>('k8s/K8sResources');

/** What a call made in embedded mode gets. */
export class K8sDisabledError extends Error {
  override name = 'K8sDisabledError';
  constructor() {
    super('Kubernetes mode is off (no --k8s-kubeconfig-path, no in-cluster service account)');
  }
}

/** The Cilium API group and version of the CRDs. */
export const CILIUM_GROUP = 'cilium.io';
export const CILIUM_VERSION = 'v2';

/** An RBAC verb the agent may use. */
export type K8sVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** One permission the agent's code needs: the ClusterRole is generated from these. */
export interface K8sAccessRule {
  /** API group: '' for the core group. */
  readonly group: string;
  /** Resource plural, with a subresource as `nodes/status`. */
  readonly resource: string;
  readonly verbs: readonly K8sVerb[];
  /** Which cell needs it and for what (shown in the chart's ClusterRole as a comment). */
  readonly why: string;
}

/**
 * Every permission the agent's cells declare (at construction, in an invoke). The client refuses
 * a request no rule covers, so the chart's ClusterRole, generated from these rules, covers every
 * call the agent makes and nothing more.
 */
export interface K8sAccess {
  declare(rule: K8sAccessRule): void;
  /** The declared rules merged per group and resource, sorted. */
  rules(): K8sAccessRule[];
  /** Throws K8sAccessError when no rule covers `verb` on `group`/`resource`. */
  check(group: string, resource: string, verb: K8sVerb): void;
}

/** The declared permissions. */
export const K8sAccess = token<K8sAccess>('k8s/K8sAccess');

/** The HTTP status of a failed API call (client-node's ApiException carries it in `code`), if any. */
export function apiStatus(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A request no declared rule covers (a bug in the agent: its ClusterRole would refuse it too). */
export class K8sAccessError extends Error {
  override name = 'K8sAccessError';
}
