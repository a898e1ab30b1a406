// What the agent keeps of the objects it reflects beyond their metadata: the fields its cells
// read, so that thousands of pods do not hold their volumes, env and probes in memory (Cilium's
// slim types do the same).
import type { K8sObject, Pod } from './types.js';

type Obj = Record<string, unknown>;

function pick(o: unknown, keys: readonly string[]): Obj | undefined {
  if (typeof o !== 'object' || o === null) return undefined;
  const src = o as Obj;
  const out: Obj = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out;
}

function containers(list: unknown): Obj[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((c) => pick(c, ['name', 'image', 'ports']) ?? {});
}

/** The pod spec fields kept: containers' names, images and ports, node, host network, service account. */
export const POD_SPEC_FIELDS = [
  'nodeName',
  'hostNetwork',
  'serviceAccountName',
  'serviceAccount',
  'hostname',
  'subdomain',
] as const;

/** The pod status fields kept: phase, addresses, conditions, start time. */
export const POD_STATUS_FIELDS = [
  'phase',
  'podIP',
  'podIPs',
  'hostIP',
  'hostIPs',
  'conditions',
  'startTime',
  'reason',
] as const;

/** A pod as the agent keeps it. */
export function slimPod(o: K8sObject): Pod {
  const p = o as unknown as Obj;
  const spec = p.spec as Obj | undefined;
  if (spec) {
    const s = pick(spec, POD_SPEC_FIELDS) ?? {};
    const cs = containers(spec.containers);
    if (cs) s.containers = cs;
    const init = containers(spec.initContainers);
    if (init) s.initContainers = init;
    p.spec = s;
  }
  const status = pick(p.status, POD_STATUS_FIELDS);
  if (status) p.status = status;
  else delete p.status;
  return p as unknown as Pod;
}

/** A node as the agent keeps it: no images list, no volumes in use. */
export function slimNode(o: K8sObject): K8sObject {
  const status = (o as unknown as Obj).status as Obj | undefined;
  if (status) {
    delete status.images;
    delete status.volumesInUse;
    delete status.volumesAttached;
  }
  return o;
}
