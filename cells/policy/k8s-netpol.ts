// Kubernetes NetworkPolicy → Cilium rules, as Cilium's pkg/k8s/network_policy.go translates it:
// one rule per policy, its endpointSelector the podSelector in the policy's namespace, each peer
// an endpoint selector (namespace labels read as `io.cilium.k8s.namespace.labels.<key>`) or a
// CIDR set, ports as toPorts, and policyTypes' isolation as Cilium's default deny (`{}`). The
// result is Cilium's rule JSON, parsed by the rule language's own parser, so what is stored is
// exactly what `cellium policy import` would store for the same rule. Pure: no I/O.
import {
  PolicyError,
  asList,
  asObject,
  asString,
  checkFields,
  child,
  given,
  show,
} from './policy-error.js';
import { derivedLabels } from './rule-labels.js';
import { POD_NAMESPACE } from './rule-peers.js';
import { parseRuleObjects, type Rule } from './rules.js';

/** The label prefix under which Cilium gives endpoints their namespace's labels. */
export const NAMESPACE_LABELS = 'io.cilium.k8s.namespace.labels';
/** The derived-from value of rules made from a NetworkPolicy. */
export const NETWORK_POLICY = 'NetworkPolicy';

/** A NetworkPolicy's rules, and what of it could not be honoured (named ports, dropped closed). */
export interface Translation {
  readonly rules: Rule[];
  /** Parts left out (the policy is narrower than written, never wider): for logs and health. */
  readonly warnings: string[];
}

type Json = Record<string, unknown>;
type Expression = { key: string; operator: unknown; values?: unknown };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const UID = /^[A-Za-z0-9-]{1,63}$/;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
/** Kubernetes' IANA_SVC_NAME: what a named port looks like. */
const PORT_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/**
 * A Kubernetes label selector's requirements with every key under `k8s:<prefix>`, as
 * matchExpressions (so two selectors ANDed never overwrite each other's matchLabels).
 */
function prefixed(v: unknown, path: string, prefix: string): Expression[] {
  const o = asObject(v, path);
  checkFields(o, path, ['matchLabels', 'matchExpressions']);
  const out: Expression[] = [];
  if (given(o.matchLabels)) {
    const ml = asObject(o.matchLabels, child(path, 'matchLabels'));
    for (const [k, val] of Object.entries(ml)) {
      out.push({ key: `k8s:${prefix}${k}`, operator: 'In', values: [val] });
    }
  }
  asList(o.matchExpressions, child(path, 'matchExpressions')).forEach((e, i) => {
    const epath = `${child(path, 'matchExpressions')}[${i}]`;
    const eo = asObject(e, epath);
    checkFields(eo, epath, ['key', 'operator', 'values']);
    const key = asString(eo.key, child(epath, 'key'));
    out.push({
      key: `k8s:${prefix}${key}`,
      operator: eo.operator,
      ...(given(eo.values) ? { values: eo.values } : {}),
    });
  });
  return out;
}

const inNamespace = (ns: string): Expression => ({
  key: `k8s:${POD_NAMESPACE}`,
  operator: 'In',
  values: [ns],
});

/** A peer's endpoint selector (podSelector and/or namespaceSelector), or undefined for neither. */
function peerSelector(peer: Json, path: string, namespace: string): Json | undefined {
  const hasPods = given(peer.podSelector);
  const pods = hasPods ? prefixed(peer.podSelector, child(path, 'podSelector'), '') : [];
  if (given(peer.namespaceSelector)) {
    const nsPath = child(path, 'namespaceSelector');
    const ns = prefixed(peer.namespaceSelector, nsPath, `${NAMESPACE_LABELS}.`);
    // An empty namespaceSelector selects every namespace: any pod (one with a namespace label).
    const namespaces = ns.length > 0 ? ns : [{ key: `k8s:${POD_NAMESPACE}`, operator: 'Exists' }];
    return { matchExpressions: [...namespaces, ...pods] };
  }
  // A podSelector alone selects pods of the policy's own namespace.
  if (hasPods) return { matchExpressions: [...pods, inNamespace(namespace)] };
  return undefined;
}

function cidrSet(v: unknown, path: string): Json {
  const o = asObject(v, path);
  checkFields(o, path, ['cidr', 'except']);
  if (!given(o.cidr)) throw new PolicyError('is required', child(path, 'cidr'));
  return { cidr: o.cidr, ...(given(o.except) ? { except: o.except } : {}) };
}

/**
 * The toPorts of a rule's `ports`; a named port is left out with a warning (this agent does not
 * resolve named ports), and `undefined` means every port was named: the element allows nothing.
 */
function toPorts(v: unknown, path: string, warnings: string[]): Json[] | null | undefined {
  const list = asList(v, path);
  if (list.length === 0) return null;
  const ports: Json[] = [];
  list.forEach((raw, i) => {
    const ppath = `${path}[${i}]`;
    const p = asObject(raw, ppath);
    checkFields(p, ppath, ['protocol', 'port', 'endPort']);
    const proto = given(p.protocol) ? asString(p.protocol, child(ppath, 'protocol')) : 'TCP';
    if (!PROTOCOLS.includes(proto)) {
      throw new PolicyError(
        `${show(p.protocol)} is not a protocol (${PROTOCOLS.join(', ')})`,
        child(ppath, 'protocol'),
      );
    }
    if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) {
      if (!PORT_NAME.test(p.port) || !/[a-z]/.test(p.port)) {
        throw new PolicyError(`${show(p.port)} is not a port or a port name`, child(ppath, 'port'));
      }
      warnings.push(
        `${child(ppath, 'port')}: named port ${show(p.port)} is not resolved by this agent: left out (that traffic stays denied)`,
      );
      return;
    }
    ports.push({
      port: given(p.port) ? String(p.port) : '0',
      ...(given(p.endPort) ? { endPort: p.endPort } : {}),
      protocol: proto,
    });
  });
  return ports.length > 0 ? [{ ports }] : undefined;
}

/** One ingress or egress element of the NetworkPolicy → Cilium's elements (one per peer). */
function direction(
  raw: unknown,
  path: string,
  dir: 'ingress' | 'egress',
  namespace: string,
  warnings: string[],
): Json[] {
  const [peersField, prefix] = dir === 'ingress' ? ['from', 'from'] : ['to', 'to'];
  let o = asObject(raw, path);
  // client-node's typed objects name `from` `_from` (a reserved word in its generator): an
  // object decoded by its serializer rather than kept as JSON is read the same.
  if (dir === 'ingress' && !given(o.from) && given(o._from)) {
    const { _from: from, ...rest } = o;
    o = { ...rest, from };
  }
  checkFields(o, path, [peersField, 'ports']);
  const ports = toPorts(o.ports, child(path, 'ports'), warnings);
  // Only named ports: nothing this agent can allow (the element is dropped, isolation stays).
  if (ports === undefined) return [];
  const l4 = ports === null ? {} : { toPorts: ports };
  const peers = asList(o[peersField], child(path, peersField));
  // No peers: every source (destination), as Cilium's wildcard endpoint selector.
  if (peers.length === 0) return [{ [`${prefix}Endpoints`]: [{}], ...l4 }];
  return peers.map((raw, i) => {
    const ppath = `${child(path, peersField)}[${i}]`;
    const peer = asObject(raw, ppath);
    checkFields(peer, ppath, ['podSelector', 'namespaceSelector', 'ipBlock']);
    const sel = peerSelector(peer, ppath, namespace);
    const cidr = given(peer.ipBlock) ? cidrSet(peer.ipBlock, child(ppath, 'ipBlock')) : undefined;
    if (!sel && !cidr) {
      throw new PolicyError('a peer needs a podSelector, a namespaceSelector or an ipBlock', ppath);
    }
    return {
      ...(sel ? { [`${prefix}Endpoints`]: [sel] } : {}),
      ...(cidr ? { [`${prefix}CIDRSet`]: [cidr] } : {}),
      ...l4,
    };
  });
}

/** The policy's name, namespace and uid, checked (they become rule labels). */
function identity(o: Json): { name: string; namespace: string; uid: string | undefined } {
  const meta = asObject(o.metadata, 'metadata');
  const name = asString(meta.name, 'metadata.name', 253);
  if (!DNS_SUBDOMAIN.test(name)) {
    throw new PolicyError(`${show(name)} is not a resource name`, 'metadata.name');
  }
  // As Cilium: a NetworkPolicy is namespaced, so no namespace means `default`.
  const namespace = given(meta.namespace)
    ? asString(meta.namespace, 'metadata.namespace', 63)
    : 'default';
  if (!DNS_LABEL.test(namespace)) {
    throw new PolicyError(`${show(namespace)} is not a namespace name`, 'metadata.namespace');
  }
  const uid = given(meta.uid) ? asString(meta.uid, 'metadata.uid', 63) : undefined;
  if (uid !== undefined && !UID.test(uid)) {
    throw new PolicyError(`${show(uid)} is not a uid`, 'metadata.uid');
  }
  return { name, namespace, uid };
}

/**
 * Cilium's rule JSON for a NetworkPolicy object (as the API server sends it), and the parts
 * left out. Throws a PolicyError naming the field for anything malformed.
 */
export function networkPolicyRuleJson(np: unknown): { rule: Json; warnings: string[] } {
  const o = asObject(np, '');
  const { name, namespace, uid } = identity(o);
  const spec = asObject(o.spec, 'spec');
  const types = asList(spec.policyTypes, 'spec.policyTypes').map((t, i) => {
    const s = asString(t, `spec.policyTypes[${i}]`);
    if (s !== 'Ingress' && s !== 'Egress') {
      throw new PolicyError(`${show(t)} is not Ingress or Egress`, `spec.policyTypes[${i}]`);
    }
    return s;
  });
  const given_ = types.length > 0;
  // Kubernetes: without policyTypes, Ingress always, Egress when there are egress rules. With
  // them, a direction not listed is not affected by this policy at all.
  const egressRules = asList(spec.egress, 'spec.egress');
  const doIngress = !given_ || types.includes('Ingress');
  const doEgress = given_ ? types.includes('Egress') : egressRules.length > 0;
  const warnings: string[] = [];
  const ingress = doIngress
    ? asList(spec.ingress, 'spec.ingress').flatMap((r, i) =>
        direction(r, `spec.ingress[${i}]`, 'ingress', namespace, warnings),
      )
    : [];
  const egress = doEgress
    ? egressRules.flatMap((r, i) =>
        direction(r, `spec.egress[${i}]`, 'egress', namespace, warnings),
      )
    : [];
  // Isolation in a direction with nothing allowed: Cilium's default deny, an empty element.
  if (doIngress && ingress.length === 0) ingress.push({});
  if (doEgress && egress.length === 0) egress.push({});
  if (!given(spec.podSelector)) throw new PolicyError('is required', 'spec.podSelector');
  const subject = {
    matchExpressions: [
      ...prefixed(spec.podSelector, 'spec.podSelector', ''),
      inNamespace(namespace),
    ],
  };
  return {
    rule: {
      endpointSelector: subject,
      ...(ingress.length > 0 ? { ingress } : {}),
      ...(egress.length > 0 ? { egress } : {}),
      labels: derivedLabels(NETWORK_POLICY, name, namespace, uid),
    },
    warnings,
  };
}

/**
 * A NetworkPolicy's Cilium rules, validated by the rule language's parser. Throws a PolicyError
 * (its context names the policy) for anything malformed: the caller skips the policy.
 */
export function networkPolicyRules(np: unknown): Translation {
  let what = 'NetworkPolicy';
  try {
    const meta = (np as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    if (typeof meta?.name === 'string') {
      what = `NetworkPolicy ${typeof meta.namespace === 'string' ? meta.namespace : 'default'}/${meta.name}`;
    }
    const { rule, warnings } = networkPolicyRuleJson(np);
    try {
      return { rules: parseRuleObjects(rule), warnings };
    } catch (e) {
      // The parser names the field of the Cilium rule; the NetworkPolicy's own path is lost,
      // but its message (the bad value) is kept.
      throw e instanceof PolicyError ? new PolicyError(e.reason, e.path) : e;
    }
  } catch (e) {
    throw e instanceof PolicyError ? e.within(what) : e;
  }
}
