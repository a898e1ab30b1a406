// The permissions the agent's cells declare, and the check every request to the API server
// passes: a call no declared rule covers is refused here, before the API server (or a ClusterRole
// generated from the same rules) would refuse it.
import { K8sAccessError, type K8sAccess, type K8sAccessRule, type K8sVerb } from './types.js';

/** RBAC's verbs in the order a ClusterRole lists them. */
const VERB_ORDER: readonly K8sVerb[] = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
];

interface Merged {
  group: string;
  resource: string;
  verbs: Set<K8sVerb>;
  why: string[];
}

/** The declared rules, merged per group and resource. */
export class AccessRules implements K8sAccess {
  private readonly byKey = new Map<string, Merged>();

  declare(rule: K8sAccessRule): void {
    if (rule.resource === '' || /\s/.test(rule.resource)) {
      throw new Error(`k8s access rule: resource '${rule.resource}' is not a resource name`);
    }
    const key = `${rule.group}\u0000${rule.resource}`;
    let m = this.byKey.get(key);
    if (!m) {
      m = { group: rule.group, resource: rule.resource, verbs: new Set(), why: [] };
      this.byKey.set(key, m);
    }
    for (const v of rule.verbs) m.verbs.add(v);
    if (rule.why !== '' && !m.why.includes(rule.why)) m.why.push(rule.why);
  }

  rules(): K8sAccessRule[] {
    return [...this.byKey.values()]
      .sort((a, b) => a.group.localeCompare(b.group) || a.resource.localeCompare(b.resource))
      .map((m) => ({
        group: m.group,
        resource: m.resource,
        verbs: VERB_ORDER.filter((v) => m.verbs.has(v)),
        why: m.why.join('; '),
      }));
  }

  check(group: string, resource: string, verb: K8sVerb): void {
    if (this.byKey.get(`${group}\u0000${resource}`)?.verbs.has(verb)) return;
    const g = group === '' ? 'core' : group;
    throw new K8sAccessError(
      `no declared K8sAccessRule allows '${verb}' on ${resource} (group ${g}): the agent's ClusterRole would refuse it; declare the rule in the cell that makes this call`,
    );
  }
}

/** What a request to the API server is, in RBAC's terms. */
export type RequestAttributes =
  | {
      readonly kind: 'resource';
      readonly group: string;
      readonly resource: string;
      readonly verb: K8sVerb | 'deletecollection';
    }
  | { readonly kind: 'nonResource'; readonly path: string };

const METHOD_VERB: Readonly<Record<string, K8sVerb>> = {
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
};

/**
 * Maps a request's method and URL to RBAC's attributes, as the API server's request info
 * resolver does: `/api/v1[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]]` and the same
 * under `/apis/<group>/<version>`; anything else is a non-resource URL.
 */
export function requestAttributes(method: string, url: string): RequestAttributes {
  const u = new URL(url, 'http://localhost');
  const parts = u.pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else {
    return { kind: 'nonResource', path: u.pathname };
  }
  // namespaces/<ns>/<resource>... is a namespaced resource; namespaces[/<name>] the namespaces.
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [plural = '', name, sub] = rest;
  const resource = sub === undefined ? plural : `${plural}/${sub}`;
  const m = method.toUpperCase();
  let verb: K8sVerb | 'deletecollection';
  if (m === 'GET' || m === 'HEAD') {
    const watch = u.searchParams.get('watch');
    verb = name !== undefined ? 'get' : watch === 'true' || watch === '1' ? 'watch' : 'list';
  } else if (m === 'DELETE') {
    verb = name !== undefined ? 'delete' : 'deletecollection';
  } else {
    verb = METHOD_VERB[m] ?? 'get';
  }
  return { kind: 'resource', group, resource, verb };
}

/** Non-resource URLs every authenticated client may read (Kubernetes' system:discovery role). */
const PUBLIC_PATHS = /^\/(version|api|apis)(\/[^/]+){0,2}\/?$/;

/** Throws K8sAccessError unless a declared rule (or the public discovery URLs) allows the request. */
export function checkRequest(access: K8sAccess, method: string, url: string): void {
  const a = requestAttributes(method, url);
  if (a.kind === 'nonResource') {
    if (method.toUpperCase() === 'GET' && PUBLIC_PATHS.test(a.path)) return;
    throw new K8sAccessError(`the agent makes no ${method} ${a.path} request (non-resource URL)`);
  }
  if (a.verb === 'deletecollection') {
    throw new K8sAccessError(`the agent never deletes collections (${method} ${url})`);
  }
  access.check(a.group, a.resource, a.verb);
}
