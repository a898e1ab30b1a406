// A CiliumIdentity object as Cilium writes it (pkg/k8s/identitybackend): the name is the id,
// `security-labels` maps each label's `source:key` to its value (the identity's real labels),
// and metadata.labels repeats the `k8s:` ones as Kubernetes labels (source stripped) so that
// `kubectl get ciliumid -l app=web` finds them.
import type { CiliumIdentityObject } from '../k8s/index.js';
import { CILIUM_GROUP, CILIUM_VERSION } from '../k8s/index.js';

/** The CiliumIdentity resource (cluster-scoped). */
export const CILIUM_IDENTITIES = 'ciliumidentities';

/** Cilium's namespace-label labels: user input that can exceed Kubernetes' label limits. */
const NAMESPACE_LABELS = 'k8s:io.cilium.k8s.namespace.labels.';

/** At most this many labels per identity are accepted from the API server. */
const MAX_LABELS = 1024;

/** `source:key=value` → [`source:key`, value]; a label without `=` has the empty value. */
function split(label: string): [string, string] {
  const colon = label.indexOf(':');
  const eq = label.indexOf('=', colon + 1);
  return eq < 0 ? [label, ''] : [label.slice(0, eq), label.slice(eq + 1)];
}

/** `security-labels` of a normalized label set. */
export function securityLabels(labels: readonly string[]): Record<string, string> {
  return Object.fromEntries(labels.map(split));
}

/**
 * The normalized labels of a `security-labels` map (Cilium's label string form: `source:key`
 * when the value is empty). Labels that went through `securityLabels` and back compare equal.
 */
export function labelsOf(sl: Readonly<Record<string, string>>): string[] {
  return Object.entries(sl)
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .sort();
}

/** The canonical form of a normalized label set (what `security-labels` can say). */
export function canonicalLabels(labels: readonly string[]): string[] {
  return labelsOf(securityLabels(labels));
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `key: value` is a valid Kubernetes label (the API server refuses the object else). */
function validK8sLabel(key: string, value: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (!NAME.test(name)) return false;
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix))) return false;
  return value === '' || NAME.test(value);
}

/**
 * The Kubernetes labels of an identity: its `k8s:` labels without the source, except the
 * namespace-label ones (as Cilium's SanitizeK8sLabels) and any that are not valid Kubernetes
 * labels (they only help kubectl find the object; `security-labels` keeps every label).
 */
export function k8sLabels(sl: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(sl)) {
    if (!k.startsWith('k8s:') || k.startsWith(NAMESPACE_LABELS)) continue;
    const key = k.slice(4);
    if (validK8sLabel(key, v)) out[key] = v;
  }
  return out;
}

/** The CiliumIdentity object of an id and a normalized label set, as created. */
export function identityObject(id: number, labels: readonly string[]): CiliumIdentityObject {
  const sl = securityLabels(labels);
  return {
    apiVersion: `${CILIUM_GROUP}/${CILIUM_VERSION}`,
    kind: 'CiliumIdentity',
    metadata: { name: String(id), labels: k8sLabels(sl) },
    'security-labels': sl,
  };
}

/** A CiliumIdentity read from the API server, checked: its id and normalized labels. */
export interface ParsedIdentity {
  readonly id: number;
  readonly labels: string[];
}

/**
 * Checks an object from the API server (hostile input): a decimal name in `range`, and
 * `security-labels` a non-empty map of `source:key` to string values. Returns the reason
 * when it is not usable.
 */
export function parseIdentityObject(
  obj: unknown,
  range: { readonly min: number; readonly max: number },
): ParsedIdentity | string {
  if (typeof obj !== 'object' || obj === null) return 'not an object';
  const o = obj as { metadata?: { name?: unknown }; 'security-labels'?: unknown };
  const name = o.metadata?.name;
  if (typeof name !== 'string' || !/^[1-9]\d{0,9}$/.test(name)) {
    return `name ${JSON.stringify(name)} is not an identity number`;
  }
  const id = Number(name);
  if (id < range.min || id > range.max) {
    return `identity ${id} is outside the range ${range.min}-${range.max}`;
  }
  const sl = o['security-labels'];
  if (typeof sl !== 'object' || sl === null || Array.isArray(sl)) {
    return 'security-labels is not a map';
  }
  const entries = Object.entries(sl as Record<string, unknown>);
  if (entries.length === 0) return 'security-labels is empty';
  if (entries.length > MAX_LABELS) return `more than ${MAX_LABELS} security-labels`;
  for (const [k, v] of entries) {
    if (typeof v !== 'string') return `security-labels ${JSON.stringify(k)} is not a string`;
    if (!/^[a-zA-Z0-9-]+:[^=]+$/.test(k)) {
      return `security-labels key ${JSON.stringify(k)} is not source:key`;
    }
    // Reserved labels belong to the fixed identities (1-255), never to an allocated one: an object
    // saying otherwise would be selected by policies naming the host, the world, the cluster...
    if (k.startsWith('reserved:')) {
      return `security-labels ${JSON.stringify(k)} is a reserved label (only identities below 256 carry one)`;
    }
  }
  return { id, labels: labelsOf(sl as Record<string, string>) };
}
