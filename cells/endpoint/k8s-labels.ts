// Kubernetes mode: the identity labels of a pod's endpoint, as Cilium derives them
// (pkg/k8s GetPodMetadata + pkg/labelsfilter's default prefixes), and the checks that keep a
// hostile or malformed object from the API server out of an identity.
import type { Namespace, Pod } from '../k8s/index.js';

/** Cilium's prefix of the labels it owns: a pod's own labels under it are dropped (no spoofing). */
export const CILIUM_LABEL_PREFIX = 'io.cilium.k8s';
/** The label naming the pod's namespace. */
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
/** The prefix of the namespace's labels copied onto its pods' endpoints. */
export const NAMESPACE_LABELS_PREFIX = `${CILIUM_LABEL_PREFIX}.namespace.labels`;
/** The label naming the pod's service account. */
export const SERVICE_ACCOUNT_LABEL = `${CILIUM_LABEL_PREFIX}.policy.serviceaccount`;
/** The label naming the cluster (DaemonConfig's cluster name). */
export const CLUSTER_LABEL = `${CILIUM_LABEL_PREFIX}.policy.cluster`;
/** The identity of an endpoint whose pod is not known yet (Cilium's init identity). */
export const INIT_LABEL = 'reserved:init';

/** One rule of Cilium's label filter: a regexp matched at the start of the key; `!` ignores. */
interface LabelPrefix {
  readonly ignore: boolean;
  readonly expr: RegExp;
}

const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Cilium's default identity-relevant label prefixes (labelsfilter's defaultLabelPrefixCfg): the
 * namespace, namespace labels, app.kubernetes.io and the cluster are kept; other io.kubernetes,
 * kubernetes.io, k8s.io and *beta.kubernetes.io keys, the StatefulSet/Job per-pod labels and the
 * controllers' hashes are not (they would give every pod its own identity).
 */
const DEFAULT_PREFIXES: readonly LabelPrefix[] = [
  ...[POD_NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX, 'app.kubernetes.io', CLUSTER_LABEL].map(
    (p) => ({ ignore: false, expr: new RegExp(quote(p), 'y') }),
  ),
  ...[
    'io\\.kubernetes',
    'kubernetes\\.io',
    quote('statefulset.kubernetes.io/pod-name'),
    quote('apps.kubernetes.io/pod-index'),
    quote('batch.kubernetes.io/job-completion-index'),
    '.*beta\\.kubernetes\\.io',
    'k8s\\.io',
    'pod-template-generation',
    'pod-template-hash',
    'controller-revision-hash',
    'annotation.*',
    'etcd_node',
  ].map((p) => ({ ignore: true, expr: new RegExp(p, 'y') })),
];

/** The length a rule matches at the start of `key` (0: no match). */
function matchLength(p: LabelPrefix, key: string): number {
  p.expr.lastIndex = 0;
  const m = p.expr.exec(key);
  return m ? m[0].length || 1 : 0;
}

/**
 * Whether a label key is identity-relevant under Cilium's default filter: kept unless an ignore
 * rule matches, or an include rule matches a longer start of the key than the shortest ignore.
 */
export function identityRelevant(key: string): boolean {
  let included = 0;
  let ignored = 0;
  for (const p of DEFAULT_PREFIXES) {
    const n = matchLength(p, key);
    if (n === 0) continue;
    if (p.ignore) ignored = ignored === 0 ? n : Math.min(ignored, n);
    else included = Math.max(included, n);
  }
  return ignored === 0 || included > ignored;
}

/** A container port with a name: what policies' named ports resolve to. */
export interface NamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** What an endpoint takes from its pod and namespace. */
export interface PodMetadata {
  /** `k8s:` identity labels, sorted. */
  readonly labels: readonly string[];
  readonly namedPorts: readonly NamedPort[];
  readonly uid: string;
}

// A label key: an optional DNS-subdomain prefix (253) and '/', then a name of up to 63
// alphanumerics, '-', '_', '.' starting and ending alphanumeric; a value the same name or empty.
const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;
/**
 * The most identity labels an endpoint keeps (its state file's limit, store.ts; a CiliumIdentity
 * read back takes no more): a pod over it is skipped by name instead of failing the endpoint's
 * write (which answered the CNI's PUT 400 with the state file's schema path).
 */
export const MAX_POD_LABELS = 1024;

/** Why a label key/value is not one the API server would accept, or undefined. */
function badLabel(key: unknown, value: unknown): string | undefined {
  if (typeof key !== 'string' || typeof value !== 'string') return 'a label is not a string';
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0 && !PREFIX.test(key.slice(0, slash)))
    return `label key ${JSON.stringify(key.slice(0, 300))} has an invalid prefix`;
  if (!NAME.test(name)) return `label key ${JSON.stringify(key.slice(0, 300))} is invalid`;
  if (value !== '' && !NAME.test(value)) {
    return `label ${key}'s value ${JSON.stringify(value.slice(0, 100))} is invalid`;
  }
  return undefined;
}

/** Why an object's labels cannot be used, or undefined. */
function badLabels(labels: unknown): string | undefined {
  if (labels === undefined || labels === null) return undefined;
  if (typeof labels !== 'object' || Array.isArray(labels)) return 'metadata.labels is not a map';
  for (const [k, v] of Object.entries(labels)) {
    const why = badLabel(k, v);
    if (why) return why;
  }
  return undefined;
}

/** A value from the API server as a log shows it: a string quoted and cut, else its type. */
function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v.slice(0, 100)) : `a ${typeof v}`;
}

/** The pod's named container ports, or why they are malformed. */
function namedPorts(pod: Pod): NamedPort[] | string {
  const out: NamedPort[] = [];
  const containers: unknown = pod.spec?.containers ?? [];
  if (!Array.isArray(containers)) return 'spec.containers is not a list';
  for (const c of containers as unknown[]) {
    const ports: unknown = (c as { ports?: unknown } | null)?.ports ?? [];
    if (!Array.isArray(ports)) return 'a container`s ports are not a list';
    for (const raw of ports as unknown[]) {
      const p = raw as { name?: unknown; containerPort?: unknown; protocol?: unknown } | null;
      if (p?.name === undefined || p.name === '') continue;
      const proto = p.protocol ?? 'TCP';
      if (typeof p.name !== 'string' || !PORT_NAME.test(p.name)) {
        return `port name ${shown(p.name)} is invalid`;
      }
      if (typeof p.containerPort !== 'number' || !Number.isInteger(p.containerPort)) {
        return `port ${p.name} has no valid containerPort`;
      }
      if (p.containerPort < 1 || p.containerPort > 65535) {
        return `port ${p.name}'s containerPort ${p.containerPort} is out of range`;
      }
      if (proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') {
        return `port ${p.name}'s protocol ${shown(proto)} is invalid`;
      }
      out.push({ name: p.name, port: p.containerPort, protocol: proto });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.port - b.port));
}

/**
 * The endpoint metadata of `pod` in namespace `ns` (Cilium's GetPodMetadata, filtered as its
 * default label filter does), or why the objects are malformed (the caller skips them, says so
 * and keeps what it had).
 */
export function podMetadata(
  pod: Pod,
  ns: Namespace,
  clusterName: string,
): PodMetadata | { readonly error: string } {
  const namespace = pod.metadata.namespace ?? '';
  const bad = badLabels(pod.metadata.labels) ?? badLabels(ns.metadata.labels);
  if (bad) return { error: bad };
  const sa: unknown = pod.spec?.serviceAccountName ?? '';
  if (typeof sa !== 'string' || (sa !== '' && !PREFIX.test(sa))) {
    return { error: 'spec.serviceAccountName is invalid' };
  }
  const ports = namedPorts(pod);
  if (typeof ports === 'string') return { error: ports };
  const uid: unknown = pod.metadata.uid ?? '';
  if (typeof uid !== 'string' || uid.length > 128) return { error: 'metadata.uid is invalid' };
  const all = new Map<string, string>();
  for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) {
    // A pod cannot claim Cilium's own labels (its namespace's, its service account...).
    if (!k.startsWith(CILIUM_LABEL_PREFIX)) all.set(k, v);
  }
  for (const [k, v] of Object.entries(ns.metadata.labels ?? {})) {
    all.set(`${NAMESPACE_LABELS_PREFIX}.${k}`, v);
  }
  all.set(POD_NAMESPACE_LABEL, namespace);
  if (sa !== '') all.set(SERVICE_ACCOUNT_LABEL, sa);
  else all.delete(SERVICE_ACCOUNT_LABEL);
  all.set(CLUSTER_LABEL, clusterName);
  const labels = [...all]
    .filter(([k]) => identityRelevant(k))
    .map(([k, v]) => `k8s:${k}=${v}`)
    .sort();
  if (labels.length > MAX_POD_LABELS) {
    return {
      error: `${labels.length} identity labels (pod and namespace labels), more than ${MAX_POD_LABELS}`,
    };
  }
  return { labels, namedPorts: ports, uid };
}

/** A label's key: between its source and '=' (`k8s:app=web` → `app`). */
function labelKey(label: string): string {
  const colon = label.indexOf(':');
  const eq = label.indexOf('=', colon + 1);
  return label.slice(colon + 1, eq < 0 ? undefined : eq);
}

/**
 * The request's labels merged with the pod's, as Cilium merges them: the request's through the
 * same label filter, then by key, the pod's winning. `reserved:init` (the pod not known yet)
 * stands alone, as Cilium's init identity does.
 */
export function mergeLabels(request: readonly string[], pod: readonly string[]): string[] {
  if (pod.includes(INIT_LABEL)) return [INIT_LABEL];
  const out = new Map<string, string>();
  for (const raw of request) {
    const l = raw.trim();
    if (identityRelevant(labelKey(l))) out.set(labelKey(l), l);
  }
  for (const l of pod) out.set(labelKey(l), l);
  return [...out.values()].filter((l) => l !== '').sort();
}
