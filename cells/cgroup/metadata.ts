import type { Model } from '../../core/api/index.js';
import type { Endpoint } from '../endpoint/index.js';
import type { CgroupFinder, CgroupRef } from './finder.js';

/** What the dump needs of an endpoint. */
export type CgroupEndpoint = Pick<
  Endpoint,
  'id' | 'containerId' | 'containerName' | 'k8sNamespace' | 'k8sPodName' | 'ipv4' | 'ipv6'
> & {
  /** The pid the CNI plugin gave (EndpointChangeRequest `pid`), 0 when none. */
  readonly pid?: number;
};

/**
 * The pods' cgroups: one entry per pod (endpoints of one pod share it), each endpoint's cgroup
 * found from its pid (when it is its container's), else from its container id. An endpoint whose cgroup cannot be found is
 * listed with no containers: it is a pod the agent knows, not an error.
 */
export function cgroupDump(
  endpoints: readonly CgroupEndpoint[],
  finder: CgroupFinder | undefined,
): Model<'CgroupDumpMetadata'> {
  const byPid = new Map<number, CgroupRef>();
  if (finder) {
    for (const ep of endpoints) {
      const ref = ep.pid ? finder.byPid(ep.pid) : undefined;
      // A pid outlives its process and may be reused: with a container id to check against,
      // the pid's cgroup counts only if it is that container's.
      if (ref && (ep.containerId === '' || ref.path.includes(ep.containerId))) {
        byPid.set(ep.id, ref);
      }
    }
  }
  const wanted = endpoints.filter((ep) => !byPid.has(ep.id) && ep.containerId !== '');
  const byContainer = finder
    ? finder.byContainers(wanted.map((ep) => ep.containerId))
    : new Map<string, CgroupRef>();

  const pods = new Map<string, Required<Model<'CgroupPodMetadata'>>>();
  for (const ep of [...endpoints].sort((a, b) => a.id - b.id)) {
    const name = ep.k8sPodName !== '' ? ep.k8sPodName : ep.containerName;
    // Endpoints without a pod name are pods of their own.
    const key = ep.k8sPodName !== '' ? `${ep.k8sNamespace}/${ep.k8sPodName}` : `#${ep.id}`;
    let pod = pods.get(key);
    if (!pod) {
      pod = { name, namespace: ep.k8sNamespace, ips: [], containers: [] };
      pods.set(key, pod);
    }
    for (const ip of [ep.ipv4, ep.ipv6]) if (ip !== '' && !pod.ips.includes(ip)) pod.ips.push(ip);
    const ref = byPid.get(ep.id) ?? byContainer.get(ep.containerId);
    if (ref && !pod.containers.some((c) => c['cgroup-id'] === ref.id)) {
      pod.containers.push({ 'cgroup-id': ref.id, 'cgroup-path': ref.path });
    }
  }
  return { 'pod-metadatas': [...pods.values()] };
}
