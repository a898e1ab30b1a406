// What the plugin does to links: the veth names and core/net's pod link over rtnetlink. The
// plugin imports this module lazily, once its first request to the agent is on its way, so
// loading koffi, libc and node:crypto overlaps with the agent's answer (see plugin.ts).
import { createHash } from 'node:crypto';

/** The host-side veth name of a container's interface: `lxc` + 11 hex digits (15 at most). */
export function hostIfName(containerId: string, ifName: string): string {
  return `lxc${createHash('sha256').update(`${containerId}/${ifName}`).digest('hex').slice(0, 11)}`;
}

/** The temporary name of the pod end before it moves into the pod's namespace. */
export function tmpIfName(containerId: string, ifName: string): string {
  return `tmp${hostIfName(containerId, ifName).slice(3)}`;
}

export { addPodLink, delPodLink, getLinkIn, type PodLink } from '../../core/net/pod-link.js';
