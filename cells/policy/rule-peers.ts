// One element of a rule's ingress/egress (or deny) list: which peers (endpoint selectors, CIDRs,
// entities) on which ports or ICMP types. Peers this agent cannot resolve (FQDNs, services,
// cloud groups, nodes) are refused with the reason, never dropped.
import { formatIp, parseIp, type Family } from '../../core/ip.js';
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
import { parseIcmps, parseToPorts, type IcmpType, type PortRange } from './rule-ports.js';
import {
  compileSelector,
  type LabelSelector,
  type Requirement,
  type Selector,
} from './selector.js';

/** A CIDR peer with the prefixes carved out of it. */
export interface CidrSelector {
  /** Normalized `network/len` (host bits cleared; a bare IP is a /32 or /128). */
  readonly cidr: string;
  /** Normalized, each strictly inside cidr and of its family. */
  readonly except: readonly string[];
}

/** The entities a rule may name (Cilium's, less world-ipv4/6 and none). */
export const ENTITIES = [
  'all',
  'world',
  'cluster',
  'host',
  'remote-node',
  'health',
  'init',
  'kube-apiserver',
  'unmanaged',
  'ingress',
] as const;

/** A named class of peers (`world`, `host`, ...). */
export type Entity = (typeof ENTITIES)[number];

/**
 * One ingress or egress element. The peers are the union of endpoints, cidrs and entities;
 * with none of them, ports or icmps alone mean "any peer on these", and an element with
 * nothing at all (`{}`) allows nothing (it only turns default deny on). No ports and no icmps:
 * every port and protocol.
 */
export interface PeerRule {
  /** fromEndpoints / toEndpoints, compiled (a namespaced policy's namespace added). */
  readonly endpoints: readonly Selector[];
  /** fromCIDR and fromCIDRSet (toCIDR, toCIDRSet). */
  readonly cidrs: readonly CidrSelector[];
  readonly entities: readonly Entity[];
  /** toPorts[].ports[], flattened. */
  readonly ports: readonly PortRange[];
  /** icmps[].fields[], flattened. */
  readonly icmps: readonly IcmpType[];
}

/** A CiliumClusterwideNetworkPolicy's peers: pods of every namespace. */
export const ANY_NAMESPACE = Symbol('any namespace');

/** Whose namespace a peer selector is confined to: a namespace, every one, or none (bare rules). */
export type PeerNamespace = string | typeof ANY_NAMESPACE | undefined;

/** The label key of a pod's namespace. */
export const POD_NAMESPACE = 'io.kubernetes.pod.namespace';

/** The requirement a namespaced policy adds to its selectors. */
export function namespaceRequirement(namespace: string): Requirement {
  return { source: 'k8s', key: POD_NAMESPACE, op: 'In', values: [namespace] };
}

const UNSUPPORTED_BOTH: Readonly<Record<string, string>> = {
  authentication: 'mutual authentication needs SPIRE, which this agent does not have',
};
const UNSUPPORTED_INGRESS: Readonly<Record<string, string>> = {
  ...UNSUPPORTED_BOTH,
  fromRequires: 'fromRequires (deprecated in Cilium) is not supported by this agent',
  fromGroups: 'fromGroups needs a cloud provider integration, which this agent does not have',
  fromNodes: 'fromNodes is not supported by this agent: use fromEntities host or remote-node',
};
const UNSUPPORTED_EGRESS: Readonly<Record<string, string>> = {
  ...UNSUPPORTED_BOTH,
  toRequires: 'toRequires (deprecated in Cilium) is not supported by this agent',
  toServices: 'toServices needs Kubernetes service discovery, which this agent does not have',
  toFQDNs: 'toFQDNs needs a DNS proxy, which this agent does not have',
  toGroups: 'toGroups needs a cloud provider integration, which this agent does not have',
  toNodes: 'toNodes is not supported by this agent: use toEntities host or remote-node',
};
const CIDR_RULE_UNSUPPORTED: Readonly<Record<string, string>> = {
  cidrGroupRef: 'cidrGroupRef needs CiliumCIDRGroup resources, which this agent does not watch',
  cidrGroupSelector:
    'cidrGroupSelector needs CiliumCIDRGroup resources, which this agent does not watch',
};

interface Prefix {
  readonly family: Family;
  readonly value: bigint;
  readonly bits: number;
  readonly text: string;
}

/** An IP or CIDR, host bits cleared; undefined when it is neither. */
function parsePrefix(s: string): Prefix | undefined {
  const slash = s.indexOf('/');
  const addr = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!addr) return undefined;
  const max = addr.family === 'ipv4' ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const len = s.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(len) || Number(len) > max) return undefined;
    bits = Number(len);
  }
  const host = BigInt(max - bits);
  const value = (addr.value >> host) << host;
  return { family: addr.family, value, bits, text: `${formatIp(addr.family, value)}/${bits}` };
}

function prefix(v: unknown, path: string): Prefix {
  const p = parsePrefix(asString(v, path));
  if (!p) throw new PolicyError(`${show(v)} is not a CIDR or an IP address`, path);
  return p;
}

const FAMILY_NAME: Readonly<Record<Family, string>> = { ipv4: 'IPv4', ipv6: 'IPv6' };

function cidrRule(v: unknown, path: string): CidrSelector {
  const o = asObject(v, path);
  checkFields(o, path, ['cidr', 'except'], CIDR_RULE_UNSUPPORTED);
  if (!given(o.cidr)) throw new PolicyError('is required', child(path, 'cidr'));
  const outer = prefix(o.cidr, child(path, 'cidr'));
  const epath = child(path, 'except');
  const except = asList(o.except, epath).map((e, i) => {
    const inner = prefix(e, `${epath}[${i}]`);
    if (inner.family !== outer.family) {
      throw new PolicyError(
        `${show(e)} is ${FAMILY_NAME[inner.family]} but cidr ${outer.text} is ${FAMILY_NAME[outer.family]}`,
        `${epath}[${i}]`,
      );
    }
    const host = BigInt((outer.family === 'ipv4' ? 32 : 128) - outer.bits);
    if (inner.bits <= outer.bits || inner.value >> host !== outer.value >> host) {
      throw new PolicyError(
        `${show(e)} is not strictly inside cidr ${outer.text}`,
        `${epath}[${i}]`,
      );
    }
    return inner.text;
  });
  return { cidr: outer.text, except: [...new Set(except)] };
}

function entity(v: unknown, path: string): Entity {
  const e = asString(v, path);
  if ((ENTITIES as readonly string[]).includes(e)) return e as Entity;
  throw new PolicyError(`${show(v)} is not an entity (${ENTITIES.join(', ')})`, path);
}

/**
 * A peer's endpoint selector. In a namespaced policy it only selects the policy's namespace,
 * unless it names the namespace itself or selects reserved identities (which have none), as
 * Cilium's getEndpointSelector does.
 */
function peerSelector(v: unknown, path: string, namespace: PeerNamespace): Selector {
  try {
    const sel = compileSelector(v as LabelSelector);
    if (namespace === undefined) return sel;
    const own = sel.requirements.some((r) => r.key === POD_NAMESPACE || r.source === 'reserved');
    if (own) return sel;
    // A clusterwide policy's peers are pods of any namespace (never the world), as Cilium's.
    const req: Requirement =
      namespace === ANY_NAMESPACE
        ? { source: 'k8s', key: POD_NAMESPACE, op: 'Exists', values: [] }
        : namespaceRequirement(namespace);
    return compileSelector(v as LabelSelector, [req]);
  } catch (e) {
    throw e instanceof PolicyError ? e.under(path) : e;
  }
}

/**
 * Parses one ingress/egress (or deny) element at `path`; `namespace` is the policy's, for a
 * CiliumNetworkPolicy. Throws a PolicyError naming the field.
 */
export function parsePeerRule(
  v: unknown,
  path: string,
  direction: 'ingress' | 'egress',
  namespace: PeerNamespace,
): PeerRule {
  const o = asObject(v, path);
  const from = direction === 'ingress' ? 'from' : 'to';
  const f = {
    endpoints: `${from}Endpoints`,
    cidr: `${from}CIDR`,
    cidrSet: `${from}CIDRSet`,
    entities: `${from}Entities`,
  };
  checkFields(
    o,
    path,
    [f.endpoints, f.cidr, f.cidrSet, f.entities, 'toPorts', 'icmps'],
    direction === 'ingress' ? UNSUPPORTED_INGRESS : UNSUPPORTED_EGRESS,
  );
  const at = (field: string): string => child(path, field);
  const endpoints = asList(o[f.endpoints], at(f.endpoints)).map((s, i) =>
    peerSelector(s, `${at(f.endpoints)}[${i}]`, namespace),
  );
  const cidrs = [
    ...asList(o[f.cidr], at(f.cidr)).map((c, i) => {
      const p = prefix(c, `${at(f.cidr)}[${i}]`);
      return { cidr: p.text, except: [] };
    }),
    ...asList(o[f.cidrSet], at(f.cidrSet)).map((c, i) => cidrRule(c, `${at(f.cidrSet)}[${i}]`)),
  ];
  const entities = asList(o[f.entities], at(f.entities)).map((e, i) =>
    entity(e, `${at(f.entities)}[${i}]`),
  );
  const ports = parseToPorts(o.toPorts, at('toPorts'));
  const icmps = parseIcmps(o.icmps, at('icmps'));
  if (ports.length > 0 && icmps.length > 0) {
    throw new PolicyError(
      'icmps may not be combined with toPorts (as in Cilium): write a separate rule',
      at('icmps'),
    );
  }
  return { endpoints, cidrs, entities: [...new Set(entities)], ports, icmps };
}
