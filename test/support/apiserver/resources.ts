// The kinds the API server double serves: the built-in ones the agent uses, and the custom
// resources a CustomResourceDefinition registers (served once the CRD is Established).
import { isObject, type JsonObject } from './patch.js';
import type { FieldGetter } from './selectors.js';

/** One served resource (a group/version/plural), as its discovery entry describes it. */
export interface ResourceDef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  /** Has a `status` subresource (status dropped on create, ignored by updates of the main resource). */
  readonly status: boolean;
  /** Served from a CRD (strategic merge patch refused with 415, items keep kind in lists). */
  readonly custom: boolean;
  readonly shortNames: readonly string[];
  /** Field selectors beyond metadata.name and metadata.namespace. */
  readonly fields: Readonly<Record<string, FieldGetter>>;
}

/** `v1`, `discovery.k8s.io/v1`. */
export function apiVersionOf(d: Pick<ResourceDef, 'group' | 'version'>): string {
  return d.group ? `${d.group}/${d.version}` : d.version;
}

/** The resource's name in messages and in the double's direct API: `pods`, `ciliumendpoints.cilium.io`. */
export function qualifiedName(d: Pick<ResourceDef, 'group' | 'plural'>): string {
  return d.group ? `${d.plural}.${d.group}` : d.plural;
}

function at(obj: Readonly<Record<string, unknown>>, path: string): string {
  let cur: unknown = obj;
  for (const k of path.split('.')) cur = isObject(cur) ? cur[k] : undefined;
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'string' ? cur : JSON.stringify(cur);
}

function fields(...paths: string[]): Record<string, FieldGetter> {
  return Object.fromEntries(
    paths.map((p) => [p, (o: Readonly<Record<string, unknown>>) => at(o, p)]),
  );
}

function builtin(
  group: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  opts: { status?: boolean; shortNames?: string[]; fields?: Record<string, FieldGetter> } = {},
): ResourceDef {
  return {
    group,
    version: 'v1',
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced,
    status: opts.status ?? false,
    custom: false,
    shortNames: opts.shortNames ?? [],
    fields: opts.fields ?? {},
  };
}

/** The built-in resources (all at version v1). */
export const BUILTIN: readonly ResourceDef[] = [
  builtin('', 'pods', 'Pod', true, {
    status: true,
    shortNames: ['po'],
    fields: fields(
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ),
  }),
  builtin('', 'namespaces', 'Namespace', false, {
    status: true,
    shortNames: ['ns'],
    fields: fields('status.phase'),
  }),
  builtin('', 'nodes', 'Node', false, {
    status: true,
    shortNames: ['no'],
    fields: fields('spec.unschedulable'),
  }),
  builtin('', 'services', 'Service', true, {
    status: true,
    shortNames: ['svc'],
    fields: fields('spec.clusterIP', 'spec.type'),
  }),
  builtin('', 'endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  builtin('', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  builtin('', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'] }),
  builtin('', 'events', 'Event', true, { shortNames: ['ev'] }),
  builtin('discovery.k8s.io', 'endpointslices', 'EndpointSlice', true, {
    fields: fields('addressType'),
  }),
  builtin('networking.k8s.io', 'networkpolicies', 'NetworkPolicy', true, {
    shortNames: ['netpol'],
  }),
  builtin('coordination.k8s.io', 'leases', 'Lease', true),
  builtin('apiextensions.k8s.io', 'customresourcedefinitions', 'CustomResourceDefinition', false, {
    status: true,
    shortNames: ['crd', 'crds'],
  }),
];

/** The resources a CRD serves (one per served version); [] when the spec is not usable. */
export function crdResources(crd: JsonObject): ResourceDef[] {
  const spec = crd.spec;
  if (!isObject(spec) || !isObject(spec.names) || !Array.isArray(spec.versions)) return [];
  const names = spec.names;
  const group = typeof spec.group === 'string' ? spec.group : '';
  const plural = typeof names.plural === 'string' ? names.plural : '';
  const kind = typeof names.kind === 'string' ? names.kind : '';
  if (!group || !plural || !kind) return [];
  const out: ResourceDef[] = [];
  for (const v of spec.versions as unknown[]) {
    if (!isObject(v) || v.served !== true || typeof v.name !== 'string') continue;
    const sub = isObject(v.subresources) ? v.subresources : {};
    out.push({
      group,
      version: v.name,
      plural,
      singular: typeof names.singular === 'string' ? names.singular : kind.toLowerCase(),
      kind,
      listKind: typeof names.listKind === 'string' ? names.listKind : `${kind}List`,
      namespaced: spec.scope === 'Namespaced',
      status: isObject(sub.status),
      custom: true,
      shortNames: Array.isArray(names.shortNames)
        ? names.shortNames.filter((s): s is string => typeof s === 'string')
        : [],
      fields: {},
    });
  }
  return out;
}
