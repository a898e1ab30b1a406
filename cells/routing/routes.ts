// --auto-direct-node-routes: a route to each other node's pod CIDR via that node's IP, marked
// with the agent's own route protocol so it finds its routes again (after a restart too) and
// prunes those of nodes that are gone, leaving everyone else's routes alone. Cilium marks its
// routes proto kernel; a protocol of its own lets this agent tell its routes from the kernel's.
import {
  addRoute,
  delRoute,
  listRoutes,
  withNetlink,
  type NetlinkSocket,
} from '../../core/net/index.js';
import { normalizePrefix } from '../ipcache/index.js';
import type { RemoteNode } from './nodes.js';

/** The route protocol the agent marks its node routes with (`ip route show proto 199`). */
export const RTPROT_CELLIUM = 199;

/** One node route: a pod CIDR via a node's IP. */
export interface NodeRoute {
  readonly dst: string;
  readonly gateway: string;
}

/**
 * The routes the other nodes want: each pod CIDR with a node IP of its family, both written as
 * the kernel's dump gives them back (`FD00:0::2` is `fd00::2`), or syncRoutes would see a route
 * with another gateway and replace it at every sync.
 */
export function desiredRoutes(nodes: readonly RemoteNode[]): NodeRoute[] {
  const out: NodeRoute[] = [];
  for (const n of nodes) {
    for (const [cidr, via] of [
      [n.podCidrV4, n.ipv4],
      [n.podCidrV6, n.ipv6],
    ] as const) {
      const dst = cidr === undefined ? undefined : normalizePrefix(cidr);
      const gateway = via === undefined ? undefined : normalizePrefix(via)?.split('/')[0];
      if (dst !== undefined && gateway !== undefined) out.push({ dst, gateway });
    }
  }
  return out;
}

/** What a sync did, and the routes it could not make (each with the kernel's reason). */
export interface RouteSync {
  readonly added: readonly NodeRoute[];
  readonly removed: readonly NodeRoute[];
  readonly failed: readonly { readonly route: NodeRoute; readonly error: string }[];
}

/**
 * Brings the agent's routes (protocol RTPROT_CELLIUM) in line with `want`: routes missing or
 * with another gateway are replaced, the agent's routes nobody wants are deleted. An empty
 * `want` removes every route of the agent (another routing mode). Runs in the caller's namespace.
 */
export function syncRoutes(want: readonly NodeRoute[], s?: NetlinkSocket): RouteSync {
  const run = (sock: NetlinkSocket): RouteSync => {
    const have = new Map<string, NodeRoute>();
    // Routes to the same prefixes that someone else made: left alone, never replaced.
    const foreign = new Map<string, number>();
    for (const f of ['ipv4', 'ipv6'] as const) {
      for (const r of listRoutes(sock, f)) {
        if (r.protocol === RTPROT_CELLIUM)
          have.set(r.dst, { dst: r.dst, gateway: r.gateway ?? '' });
        else foreign.set(r.dst, r.protocol);
      }
    }
    const wanted = new Map(want.map((r) => [r.dst, r]));
    const added: NodeRoute[] = [];
    const removed: NodeRoute[] = [];
    const failed: { route: NodeRoute; error: string }[] = [];
    for (const [dst, r] of have) {
      if (wanted.has(dst)) continue;
      try {
        delRoute(sock, {
          dst,
          protocol: RTPROT_CELLIUM,
          ...(r.gateway ? { gateway: r.gateway } : {}),
        });
        removed.push(r);
      } catch (e) {
        failed.push({ route: r, error: (e as Error).message });
      }
    }
    for (const r of want) {
      if (have.get(r.dst)?.gateway === r.gateway) continue;
      const other = foreign.get(r.dst);
      if (other !== undefined && !have.has(r.dst)) {
        failed.push({
          route: r,
          error: `a route to ${r.dst} that the agent did not make (proto ${other}) is in the way; left alone`,
        });
        continue;
      }
      try {
        addRoute(sock, { ...r, protocol: RTPROT_CELLIUM }, { replace: true });
        added.push(r);
      } catch (e) {
        failed.push({ route: r, error: (e as Error).message });
      }
    }
    return { added, removed, failed };
  };
  return s ? run(s) : withNetlink(run);
}
