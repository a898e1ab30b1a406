// What kube-apiserver adds to and checks in the objects the agent deals with, so tests see what
// a real cluster returns: name rules, the namespace's kubernetes.io/metadata.name label, a pod's
// Pending phase and `default` service account, a Service's allocated ClusterIP and NodePorts with
// their defaults, and a CRD's name rule. Other fields are stored as given (no schema validation).
import { isObject, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import type { StatusCause } from './status.js';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The causes that make a name invalid for a kind ([] when valid). */
export function nameCauses(def: ResourceDef, name: string): StatusCause[] {
  const field = 'metadata.name';
  if (name === '')
    return [
      {
        reason: 'FieldValueRequired',
        field,
        message: 'Required value: name or generateName is required',
      },
    ];
  const [re, what, max] =
    def.kind === 'Namespace'
      ? [DNS1123_LABEL, 'a lowercase RFC 1123 label', 63]
      : def.kind === 'Service'
        ? [DNS1035_LABEL, 'a DNS-1035 label', 63]
        : [DNS1123_SUBDOMAIN, 'a lowercase RFC 1123 subdomain', 253];
  if (!re.test(name) || name.length > max)
    return [
      {
        reason: 'FieldValueInvalid',
        field,
        message: `Invalid value: "${name}": ${what} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      },
    ];
  return [];
}

function obj(o: JsonObject, k: string): JsonObject {
  const v = o[k];
  if (isObject(v)) return v;
  const n: JsonObject = {};
  o[k] = n;
  return n;
}

/** The IPv4 service range ClusterIPs come from (`--service-cluster-ip-range`). */
export interface ServiceRange {
  /** First address as a number, and the number of addresses. */
  readonly base: number;
  readonly size: number;
}

/** Parses an IPv4 CIDR such as 10.96.0.0/12. */
export function parseRange(cidr: string): ServiceRange {
  const [ip = '', bits = '32'] = cidr.split('/');
  const base = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  return { base, size: 2 ** (32 - Number(bits)) };
}

function ipString(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** What defaulting needs from the cluster's state (addresses and ports in use). */
export interface DefaultingContext {
  readonly serviceRange: ServiceRange;
  /** Every Service object stored now. */
  services(): JsonObject[];
}

function allocateServiceFields(svc: JsonObject, ctx: DefaultingContext): StatusCause[] {
  const spec = obj(svc, 'spec');
  const type = typeof spec.type === 'string' ? spec.type : 'ClusterIP';
  spec.type = type;
  spec.sessionAffinity ??= 'None';
  spec.internalTrafficPolicy ??= 'Cluster';
  const others = ctx.services().map((s) => (isObject(s.spec) ? s.spec : {}));
  if (type !== 'ExternalName') {
    if (spec.clusterIP === undefined || spec.clusterIP === '') {
      const used = new Set(others.map((s) => s.clusterIP));
      let ip: string | undefined;
      for (let i = 10; i < ctx.serviceRange.size - 1 && ip === undefined; i++) {
        const c = ipString(ctx.serviceRange.base + i);
        if (!used.has(c)) ip = c;
      }
      if (ip === undefined)
        return [
          { reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: 'range is full' },
        ];
      spec.clusterIP = ip;
    } else if (spec.clusterIP !== 'None' && others.some((s) => s.clusterIP === spec.clusterIP)) {
      const ip = JSON.stringify(spec.clusterIP);
      return [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.clusterIPs',
          message: `Invalid value: []string{${ip}}: failed to allocate IP ${ip}: provided IP is already allocated`,
        },
      ];
    }
    spec.clusterIPs ??= [spec.clusterIP];
    if (spec.clusterIP !== 'None') {
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
    }
  }
  const external = type === 'NodePort' || type === 'LoadBalancer';
  if (external) spec.externalTrafficPolicy ??= 'Cluster';
  const usedPorts = new Set<unknown>();
  for (const s of others)
    if (Array.isArray(s.ports))
      for (const p of s.ports as unknown[]) if (isObject(p)) usedPorts.add(p.nodePort);
  const nextPort = (): number => {
    let p = 30000;
    while (usedPorts.has(p)) p++;
    usedPorts.add(p);
    return p;
  };
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports as unknown[]) {
      if (!isObject(p)) continue;
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
      if (external && p.nodePort === undefined) p.nodePort = nextPort();
    }
  }
  if (type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local')
    spec.healthCheckNodePort ??= nextPort();
  return [];
}

/** A pod spec's defaults (applied on create and to every update's body, as decoding does). */
export function defaultPodSpec(spec: JsonObject): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.serviceAccountName ??=
    typeof spec.serviceAccount === 'string' ? spec.serviceAccount : 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  for (const c of Array.isArray(spec.containers) ? (spec.containers as unknown[]) : [])
    if (isObject(c) && Array.isArray(c.ports))
      for (const p of c.ports as unknown[]) if (isObject(p)) p.protocol ??= 'TCP';
}

/**
 * Why an update of a pod's spec is refused (undefined: allowed). As kube-apiserver, only the
 * containers' images, activeDeadlineSeconds, tolerations and terminationGracePeriodSeconds may
 * change; spec.nodeName is set once, through the pods/binding subresource.
 */
export function podSpecUpdateCause(oldSpec: unknown, newSpec: unknown): StatusCause | undefined {
  const mutable = (s: unknown): JsonObject => {
    const c = isObject(s) ? structuredClone(s) : {};
    for (const k of ['activeDeadlineSeconds', 'tolerations', 'terminationGracePeriodSeconds'])
      Reflect.deleteProperty(c, k);
    for (const list of ['containers', 'initContainers'])
      for (const ct of Array.isArray(c[list]) ? (c[list] as unknown[]) : [])
        if (isObject(ct)) Reflect.deleteProperty(ct, 'image');
    return c;
  };
  if (JSON.stringify(sortKeys(mutable(oldSpec))) === JSON.stringify(sortKeys(mutable(newSpec))))
    return undefined;
  return {
    reason: 'FieldValueForbidden',
    field: 'spec',
    message:
      'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
  };
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObject(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortKeys(v[k])]),
  );
}

/**
 * Defaults a new object of a built-in kind in place (and resets its status as the kind's create
 * strategy does when `resetStatus`); returns the validation causes (none: valid).
 */
export function prepareCreate(
  def: ResourceDef,
  o: JsonObject,
  ctx: DefaultingContext,
  resetStatus: boolean,
): StatusCause[] {
  const meta = obj(o, 'metadata');
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (resetStatus && def.status) delete o.status;
  switch (def.kind) {
    case 'Namespace': {
      obj(meta, 'labels')['kubernetes.io/metadata.name'] = name;
      obj(o, 'spec').finalizers ??= ['kubernetes'];
      obj(o, 'status').phase ??= 'Active';
      return [];
    }
    case 'Pod': {
      const spec = obj(o, 'spec');
      if (!Array.isArray(spec.containers) || spec.containers.length === 0)
        return [
          { reason: 'FieldValueRequired', field: 'spec.containers', message: 'Required value' },
        ];
      defaultPodSpec(spec);
      obj(o, 'status').phase ??= 'Pending';
      return [];
    }
    case 'Service': {
      if (resetStatus) o.status = { loadBalancer: {} };
      return allocateServiceFields(o, ctx);
    }
    case 'CustomResourceDefinition': {
      const spec = isObject(o.spec) ? o.spec : {};
      const names = isObject(spec.names) ? spec.names : {};
      const want = `${String(names.plural)}.${String(spec.group)}`;
      if (name !== want)
        return [
          {
            reason: 'FieldValueInvalid',
            field: 'metadata.name',
            message: `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`,
          },
        ];
      const versions = Array.isArray(spec.versions) ? (spec.versions as unknown[]) : [];
      if (versions.filter((v) => isObject(v) && v.storage === true).length !== 1)
        return [
          {
            reason: 'FieldValueInvalid',
            field: 'spec.versions',
            message: 'Invalid value: must have exactly one version marked as storage version',
          },
        ];
      if (!['Namespaced', 'Cluster'].includes(String(spec.scope)))
        return [
          { reason: 'FieldValueNotSupported', field: 'spec.scope', message: 'Unsupported value' },
        ];
      o.status = {
        conditions: [],
        acceptedNames: { plural: '', kind: '' },
        storedVersions: versions
          .filter((v): v is JsonObject => isObject(v) && v.storage === true)
          .map((v) => v.name),
      };
      return [];
    }
    default:
      return [];
  }
}

/** The status kube-apiserver's CRD controllers write once names are accepted: Established. */
export function establishedStatus(crd: JsonObject, now: string): JsonObject {
  const spec = isObject(crd.spec) ? crd.spec : {};
  const status = isObject(crd.status) ? crd.status : {};
  const cond = (type: string, reason: string, message: string): JsonObject => ({
    type,
    status: 'True',
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    ...status,
    acceptedNames: structuredClone(spec.names ?? {}),
    conditions: [
      cond('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
  };
}
