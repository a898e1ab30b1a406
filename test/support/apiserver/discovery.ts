// Discovery documents: /version, /api, /apis, /api/v1 and /apis/<group>/<version>, as
// kube-apiserver answers them (client-node's KubernetesObjectApi reads the resource lists).
import type { JsonObject } from './patch.js';
import { apiVersionOf, type ResourceDef } from './resources.js';

/** The Kubernetes version the double says it is. */
export const VERSION = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0',
  gitCommit: '9edcffcde5595e8a5b1a35f88c421764e575afce',
  gitTreeState: 'clean',
  buildDate: '2024-08-13T07:28:49Z',
  goVersion: 'go1.22.5',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** GET /api. */
export function apiVersions(hostPort: string): JsonObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: hostPort }],
  };
}

/** GET /apis. */
export function apiGroupList(defs: readonly ResourceDef[]): JsonObject {
  const groups = new Map<string, string[]>();
  for (const d of defs) {
    if (!d.group) continue;
    const vs = groups.get(d.group) ?? [];
    if (!vs.includes(d.version)) vs.push(d.version);
    groups.set(d.group, vs);
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups].map(([name, versions]) => ({
      name,
      versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
      preferredVersion: { groupVersion: `${name}/${versions[0] ?? ''}`, version: versions[0] },
    })),
  };
}

/** GET /apis/<group>: one group. */
export function apiGroup(defs: readonly ResourceDef[], group: string): JsonObject | undefined {
  const list = apiGroupList(defs).groups as JsonObject[];
  const g = list.find((x) => x.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...g } : undefined;
}

/** GET /api/v1 or /apis/<group>/<version>; undefined when nothing is served there. */
export function apiResourceList(
  defs: readonly ResourceDef[],
  group: string,
  version: string,
): JsonObject | undefined {
  const here = defs.filter((d) => d.group === group && d.version === version);
  if (here.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const d of here) {
    resources.push({
      name: d.plural,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: VERBS,
      ...(d.shortNames.length ? { shortNames: d.shortNames } : {}),
    });
    if (d.status)
      resources.push({
        name: `${d.plural}/status`,
        singularName: '',
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: ['get', 'patch', 'update'],
      });
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: apiVersionOf({ group, version }),
    resources,
  };
}
