// A pod's link as a CNI ADD sets it up, over rtnetlink and setns in this process: a veth pair
// whose pod end is created directly in the pod's namespace under a temporary name; the host end
// up, its own rp_filter 0 (as Cilium's connector sets it; the kernel applies the higher of it
// and conf.all.rp_filter, which is the node's to set), accept_local 1 (replies of NodePort
// flows come from the node's own address) and a host route to each
// pod IP; the pod end renamed (eth0) and up with each IP as a /32 (/128), an on-link route to
// the gateway, a default route via it, and the gateway's MAC as a permanent neighbour (the host
// end's, which is what bpf_lxc answers ARP with), so the first packet waits for no ARP or NDP.
// All or nothing.
import type { Family } from '../ip.js';
import { getLinkOn, type Link } from './link.js';
import { withNetns, writeSysctl } from './netns.js';
import {
  addAddress,
  addNeighbour,
  addRoute,
  addVeth,
  delLink,
  renameLink,
  RT_SCOPE,
  setLinkUp,
} from './ops.js';
import { NetlinkSocket, withNetlink } from './socket.js';
import { withUndo } from './undo.js';

/** One IP of the pod and its gateway. */
export interface PodIp {
  readonly family: Family;
  readonly ip: string;
  readonly gateway: string;
}

/** What addPodLink creates. */
export interface PodLinkSpec {
  /** The host end (`lxc…`). */
  readonly hostName: string;
  /** The pod end's name until it is renamed inside the pod's namespace. */
  readonly tmpName: string;
  /** The pod end's final name (CNI_IFNAME). */
  readonly podName: string;
  /** The pod's network namespace (CNI_NETNS). */
  readonly netns: string;
  readonly mtu: number;
  /**
   * The MTU of the pod's routes when it is below the device's (tunnel mode: the encapsulation's
   * overhead less), so TCP sizes its segments for the path; absent: the device's.
   */
  readonly routeMtu?: number;
  readonly ips: readonly PodIp[];
}

/** Both ends as created. */
export interface PodLink {
  readonly host: Link;
  readonly pod: Link;
}

/** A NETLINK_ROUTE socket of the namespace at `path`, usable from this one (close it). */
export function openNetlinkIn(path: string): NetlinkSocket {
  return withNetns(path, () => NetlinkSocket.open());
}

const bitsOf = (f: Family): number => (f === 'ipv4' ? 32 : 128);

/**
 * Sets up a pod's link as above, in the caller's namespace (host end) and `spec.netns`. On any
 * failure everything it created is removed (deleting the host end takes the pod end, and the
 * addresses and routes of both, along) and the error names the step, device and errno.
 */
export function addPodLink(spec: PodLinkSpec): PodLink {
  return withNetlink((s) => {
    const ps = openNetlinkIn(spec.netns);
    try {
      return withUndo((undo) => {
        const { link: host, peer } = addVeth(
          s,
          {
            name: spec.hostName,
            mtu: spec.mtu,
            peer: { name: spec.tmpName, mtu: spec.mtu, netns: spec.netns },
          },
          ps,
        );
        undo.push(`delete veth ${spec.hostName}`, () => delLink(s, host, { missingOk: true }));
        writeSysctl(['net', 'ipv4', 'conf', spec.hostName, 'rp_filter'], 0);
        // NodePort to the node's own address with this pod as backend: the pod's reply leaves
        // bpf_lxc from that address, which the kernel would drop as a martian.
        writeSysctl(['net', 'ipv4', 'conf', spec.hostName, 'accept_local'], 1);
        setLinkUp(s, host);
        for (const a of spec.ips)
          addRoute(s, { dst: `${a.ip}/${bitsOf(a.family)}`, dev: host }, { replace: true });
        const pod = { index: peer.index, name: spec.podName };
        renameLink(ps, peer, spec.podName);
        if (spec.ips.some((a) => a.family === 'ipv6'))
          withNetns(spec.netns, () =>
            writeSysctl(['net', 'ipv6', 'conf', spec.podName, 'disable_ipv6'], 0),
          );
        setLinkUp(ps, pod);
        for (const a of spec.ips) {
          const bits = bitsOf(a.family);
          addAddress(ps, pod, `${a.ip}/${bits}`, { nodad: a.family === 'ipv6' });
          const mtu =
            spec.routeMtu !== undefined && spec.routeMtu < spec.mtu ? { mtu: spec.routeMtu } : {};
          addRoute(ps, { dst: `${a.gateway}/${bits}`, dev: pod, scope: RT_SCOPE.LINK, ...mtu });
          addRoute(ps, { dst: 'default', gateway: a.gateway, dev: pod, ...mtu });
          addNeighbour(ps, pod, a.gateway, host.mac);
        }
        return { host: readBack(s, host.index), pod: readBack(ps, pod.index) };
      });
    } finally {
      ps.close();
    }
  });
}

/** Deletes a pod's host end (and with it the pod end); false when it was not there. */
export function delPodLink(hostName: string): boolean {
  return withNetlink((s) => delLink(s, hostName, { missingOk: true }));
}

/** A link of the namespace at `netns` (by name or index); undefined when it is not there. */
export function getLinkIn(netns: string, ref: string | number): Link | undefined {
  const s = openNetlinkIn(netns);
  try {
    return getLinkOn(s, ref);
  } finally {
    s.close();
  }
}

function readBack(s: NetlinkSocket, index: number): Link {
  const l = getLinkOn(s, index);
  if (!l) throw new Error(`link ${index} vanished while being set up`);
  return l;
}
