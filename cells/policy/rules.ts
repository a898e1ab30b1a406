// CiliumNetworkPolicy's rule language: JSON or YAML text (bare rules, a rule list, CNP/CCNP
// manifests, a List of them, several YAML documents) parsed into validated, normalized rules.
// All or nothing: one bad field anywhere and the input is refused with a message naming the rule
// and the field's path, so an import never half-applies.
import { parseAllDocuments } from 'yaml';
import {
  PolicyError,
  asBoolean,
  asList,
  asObject,
  asString,
  checkFields,
  child,
  given,
  show,
} from './policy-error.js';
import { derivedLabels, parseRuleLabels } from './rule-labels.js';
import { ANY_NAMESPACE, namespaceRequirement, parsePeerRule, type PeerRule } from './rule-peers.js';
import {
  compileSelector,
  type LabelSelector,
  type Requirement,
  type Selector,
} from './selector.js';

// The rule language's public surface, whichever file implements it.
export { PolicyError } from './policy-error.js';
export { labelsMatch } from './rule-labels.js';
export type { CidrSelector, Entity, PeerRule } from './rule-peers.js';
export type { IcmpType, PortRange, Protocol } from './rule-ports.js';

/** A validated, normalized policy rule. */
export interface Rule {
  /** Exactly one of endpointSelector and nodeSelector is set. */
  readonly endpointSelector?: Selector;
  readonly nodeSelector?: Selector;
  readonly ingress: readonly PeerRule[];
  readonly ingressDeny: readonly PeerRule[];
  readonly egress: readonly PeerRule[];
  readonly egressDeny: readonly PeerRule[];
  /** Normalized `source:key=value` strings: the rule's own, then those derived from its manifest. */
  readonly labels: readonly string[];
  readonly description: string;
  /** Whether selecting an endpoint turns default deny on in each direction (both by default). */
  readonly enableDefaultDeny: { readonly ingress: boolean; readonly egress: boolean };
  /** The rule as given (a JSON value). */
  readonly source: unknown;
}

/** Options for parseRules and parseRuleObjects. */
export interface ParseOptions {
  /** The namespace of a CiliumNetworkPolicy without metadata.namespace (default `default`). */
  readonly namespace?: string;
}

/** The most rules one input may hold. */
export const MAX_RULES = 10_000;
/** The largest policy text accepted. */
export const MAX_POLICY_BYTES = 16 * 1024 * 1024;

const CNP = 'CiliumNetworkPolicy';
const CCNP = 'CiliumClusterwideNetworkPolicy';
const API_VERSION = 'cilium.io/v2';
const RULE_FIELDS = [
  'endpointSelector',
  'nodeSelector',
  'ingress',
  'ingressDeny',
  'egress',
  'egressDeny',
  'labels',
  'description',
  'enableDefaultDeny',
];
/** Kubernetes ObjectMeta fields a manifest read back from a cluster may carry. */
const METADATA_FIELDS = [
  'name',
  'namespace',
  'uid',
  'labels',
  'annotations',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'finalizers',
  'ownerReferences',
  'generateName',
  'selfLink',
];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Kubernetes' peer-rule cap per direction (one list of a rule). */
const MAX_PEERS = 1000;

function selectorAt(v: unknown, path: string, extra: readonly Requirement[]): Selector {
  try {
    return compileSelector(v as LabelSelector, extra);
  } catch (e) {
    throw e instanceof PolicyError ? e.under(path) : e;
  }
}

function defaultDeny(v: unknown): Rule['enableDefaultDeny'] {
  if (!given(v)) return { ingress: true, egress: true };
  const o = asObject(v, 'enableDefaultDeny');
  checkFields(o, 'enableDefaultDeny', ['ingress', 'egress']);
  const flag = (f: 'ingress' | 'egress'): boolean =>
    given(o[f]) ? asBoolean(o[f], `enableDefaultDeny.${f}`) : true;
  return { ingress: flag('ingress'), egress: flag('egress') };
}

/** One rule object; `namespace` is set for a CiliumNetworkPolicy's rules. */
function parseRule(
  raw: unknown,
  namespace: string | undefined,
  derived: string[],
  clusterwide = false,
): Rule {
  const o = asObject(raw, '');
  checkFields(o, '', RULE_FIELDS);
  const hasEndpoints = given(o.endpointSelector);
  const hasNodes = given(o.nodeSelector);
  if (hasEndpoints && hasNodes) {
    throw new PolicyError('a rule has an endpointSelector or a nodeSelector, not both', '');
  }
  if (!hasEndpoints && !hasNodes) {
    throw new PolicyError('a rule needs an endpointSelector or a nodeSelector', '');
  }
  if (hasNodes && namespace !== undefined) {
    throw new PolicyError(`a ${CNP} cannot select nodes: use a ${CCNP}`, 'nodeSelector');
  }
  const ns = namespace === undefined ? [] : [namespaceRequirement(namespace)];
  const peers = (field: string, direction: 'ingress' | 'egress'): PeerRule[] =>
    asList(o[field], field, MAX_PEERS).map((p, i) =>
      parsePeerRule(p, `${field}[${i}]`, direction, clusterwide ? ANY_NAMESPACE : namespace),
    );
  return {
    ...(hasEndpoints
      ? { endpointSelector: selectorAt(o.endpointSelector, 'endpointSelector', ns) }
      : {}),
    ...(hasNodes ? { nodeSelector: selectorAt(o.nodeSelector, 'nodeSelector', []) } : {}),
    ingress: peers('ingress', 'ingress'),
    ingressDeny: peers('ingressDeny', 'ingress'),
    egress: peers('egress', 'egress'),
    egressDeny: peers('egressDeny', 'egress'),
    labels: [...new Set([...parseRuleLabels(o.labels, 'labels'), ...derived])],
    description: given(o.description) ? asString(o.description, 'description') : '',
    enableDefaultDeny: defaultDeny(o.enableDefaultDeny),
    // A copy: the caller's object may change after the rule is in the repository.
    source: JSON.parse(JSON.stringify(o)) as unknown,
  };
}

/** Gathers rules in input order; the index of the next rule names it in errors. */
class Collector {
  readonly rules: Rule[] = [];
  constructor(readonly namespace: string | undefined) {}

  context(what?: string): string {
    return `rule ${this.rules.length}${what === undefined ? '' : ` (${what})`}`;
  }

  add(
    raw: unknown,
    what?: string,
    namespace?: string,
    derived: string[] = [],
    clusterwide = false,
  ): void {
    if (this.rules.length >= MAX_RULES) {
      throw new PolicyError(`the input has more than ${MAX_RULES} rules`);
    }
    try {
      this.rules.push(parseRule(raw, namespace, derived, clusterwide));
    } catch (e) {
      throw e instanceof PolicyError ? e.within(this.context(what)) : e;
    }
  }

  manifest(m: Record<string, unknown>, path: string): void {
    const kind = m.kind;
    let what = typeof kind === 'string' && kind.length <= 64 ? kind : undefined;
    try {
      if (kind === 'List' && path === '') {
        checkFields(m, path, ['apiVersion', 'kind', 'metadata', 'items']);
        asList(m.items, 'items', MAX_RULES).forEach((item, i) => {
          this.manifest(asObject(item, `items[${i}]`), `items[${i}]`);
        });
        return;
      }
      if (kind !== CNP && kind !== CCNP) {
        const kinds = path === '' ? `${CNP}, ${CCNP} or List` : `${CNP} or ${CCNP}`;
        throw new PolicyError(`${show(kind)} is not ${kinds}`, child(path, 'kind'));
      }
      const mpath = child(path, 'metadata');
      const meta = asObject(m.metadata, mpath);
      checkFields(meta, mpath, METADATA_FIELDS);
      const name = asString(meta.name, child(mpath, 'name'), 253);
      if (!DNS_SUBDOMAIN.test(name)) {
        throw new PolicyError(`${show(name)} is not a resource name`, child(mpath, 'name'));
      }
      let namespace: string | undefined;
      if (kind === CNP) {
        namespace = given(meta.namespace)
          ? checkNamespace(meta.namespace, child(mpath, 'namespace'))
          : (this.namespace ?? 'default');
      } else if (given(meta.namespace)) {
        throw new PolicyError(`a ${CCNP} has no namespace`, child(mpath, 'namespace'));
      }
      const label = `${kind} ${namespace === undefined ? '' : `${namespace}/`}${name}`;
      what = label;
      checkFields(m, path, ['apiVersion', 'kind', 'metadata', 'spec', 'specs', 'status']);
      if (m.apiVersion !== API_VERSION) {
        throw new PolicyError(
          `${show(m.apiVersion)} is not ${API_VERSION}`,
          child(path, 'apiVersion'),
        );
      }
      const uid = given(meta.uid) ? asString(meta.uid, child(mpath, 'uid'), 63) : undefined;
      const derived = derivedLabels(kind, name, namespace, uid);
      const specs = asList(m.specs, child(path, 'specs'), MAX_RULES);
      if (!given(m.spec) && specs.length === 0) {
        throw new PolicyError('a policy needs a spec or specs', path);
      }
      if (given(m.spec)) this.add(m.spec, label, namespace, derived, kind === CCNP);
      specs.forEach((s, i) => {
        this.add(s, `${label} specs[${i}]`, namespace, derived, kind === CCNP);
      });
    } catch (e) {
      if (!(e instanceof PolicyError) || e.context !== '') throw e;
      throw e.within(this.context(what));
    }
  }

  document(doc: unknown): void {
    if (Array.isArray(doc)) {
      for (const raw of doc) this.add(raw);
    } else if (typeof doc === 'object' && doc !== null && ('kind' in doc || 'apiVersion' in doc)) {
      this.manifest(doc, '');
    } else {
      this.add(doc);
    }
  }
}

function checkNamespace(v: unknown, path: string): string {
  const ns = asString(v, path, 63);
  if (!DNS_LABEL.test(ns)) throw new PolicyError(`${show(ns)} is not a namespace name`, path);
  return ns;
}

function collect(docs: readonly unknown[], opts: ParseOptions): Rule[] {
  const namespace =
    opts.namespace === undefined ? undefined : checkNamespace(opts.namespace, 'namespace');
  const c = new Collector(namespace);
  for (const doc of docs) c.document(doc);
  return c.rules;
}

/** The documents of a JSON or YAML text (empty YAML documents skipped). */
function readDocuments(text: string): unknown[] {
  const start = text.trimStart()[0];
  if (start === '{' || start === '[') {
    try {
      return [JSON.parse(text)];
    } catch {
      // YAML flow style is not JSON; YAML also explains a syntax error with a line number.
    }
  }
  const out: unknown[] = [];
  Array.from(parseAllDocuments(text)).forEach((doc, i) => {
    const err = doc.errors[0];
    const where = `document ${i}`;
    if (err) {
      const first = err.message.split('\n')[0] ?? '';
      throw new PolicyError(`not valid JSON or YAML: ${first.replace(/:$/, '')}`, '', where);
    }
    let value: unknown;
    try {
      // An alias can expand a small text into a huge value (each one copies its anchor): policies
      // have no use for them, so none is accepted.
      value = doc.toJS({ maxAliasCount: 0 });
    } catch (e) {
      throw new PolicyError(
        `not valid YAML: ${e instanceof Error ? e.message : String(e)}`,
        '',
        where,
      );
    }
    if (given(value)) out.push(value);
  });
  return out;
}

/**
 * Parses policy text (JSON or YAML; rules, a rule list, CNP/CCNP manifests, a List, several
 * YAML documents) into rules; all valid or a PolicyError naming the rule and field.
 */
export function parseRules(text: string, opts: ParseOptions = {}): Rule[] {
  if (text.length * 3 > MAX_POLICY_BYTES && Buffer.byteLength(text) > MAX_POLICY_BYTES) {
    throw new PolicyError(`the policy is larger than ${MAX_POLICY_BYTES / 1024 / 1024} MiB`);
  }
  return collect(readDocuments(text), opts);
}

/** parseRules for an already-parsed JSON value (one document). */
export function parseRuleObjects(value: unknown, opts: ParseOptions = {}): Rule[] {
  return collect([value], opts);
}
