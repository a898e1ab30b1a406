// The other nodes as routing needs them, and the ipcache entries Cilium's node manager derives
// from them: each node's IPs as remote-node, its health endpoint's as health, and in tunnel mode
// its pod CIDRs as the world of their family, all with the node's IPv4 as the host IP (the
// tunnel endpoint bpf_lxc encapsulates towards), so a pod there is reached through the tunnel
// before (or without) its own address being known here.
import type { Model } from '../../core/api/index.js';
import { RESERVED } from '../identity/index.js';
import type { IpcacheSource, IpcacheUpsert } from '../ipcache/index.js';
import { normalizePrefix } from '../ipcache/index.js';

/** Another node: its addresses and pod CIDRs per family. */
export interface RemoteNode {
  readonly name: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly podCidrV4?: string;
  readonly podCidrV6?: string;
  readonly healthV4?: string;
  readonly healthV6?: string;
  readonly source: string;
}

const defined = <T>(v: T | undefined): v is T => v !== undefined;

/** The other nodes of a node list (every one but `self`). */
export function remoteNodes(list: readonly Model<'NodeElement'>[], self: string): RemoteNode[] {
  return list
    .filter((n) => n.name !== self && n.name !== undefined)
    .map((n) => {
      type Addr = Model<'NodeAddressingElement'> | undefined;
      const on = (x: Addr): Addr => (x?.enabled === true ? x : undefined);
      const a = n['primary-address'];
      const h = n['health-endpoint-address'];
      const v4 = on(a?.ipv4);
      const v6 = on(a?.ipv6);
      const h4 = on(h?.ipv4)?.ip;
      const h6 = on(h?.ipv6)?.ip;
      return {
        name: n.name ?? '',
        ...(v4?.ip ? { ipv4: v4.ip } : {}),
        ...(v6?.ip ? { ipv6: v6.ip } : {}),
        ...(v4?.['alloc-range'] ? { podCidrV4: v4['alloc-range'] } : {}),
        ...(v6?.['alloc-range'] ? { podCidrV6: v6['alloc-range'] } : {}),
        ...(h4 ? { healthV4: h4 } : {}),
        ...(h6 ? { healthV6: h6 } : {}),
        source: n.source ?? '',
      };
    });
}

const SOURCES = new Set<string>(['k8s', 'kvstore', 'custom-resource', 'static']);

/** The ipcache source of a node's entries: the node's own source, as Cilium's node manager. */
export function ipcacheSourceOf(n: RemoteNode): IpcacheSource {
  return (SOURCES.has(n.source) ? n.source : 'static') as IpcacheSource;
}

/** The ipcache entries of the other nodes in a routing mode (prefixes normalized). */
export function nodeEntries(nodes: readonly RemoteNode[], tunnel: boolean): IpcacheUpsert[] {
  return nodes.flatMap((n) => {
    const source = ipcacheSourceOf(n);
    const peer = n.ipv4 !== undefined ? { hostIP: n.ipv4 } : {};
    const entry = (ip: string | undefined, identity: number, host: object): IpcacheUpsert[] => {
      const prefix = ip === undefined ? undefined : normalizePrefix(ip);
      return prefix === undefined ? [] : [{ prefix, identity, source, ...host }];
    };
    return [
      // The node's IPv4 is its own tunnel endpoint: bpf_lxc never encapsulates to the endpoint
      // itself, so the node is reached over the underlay (Cilium's InternalIP entries have no
      // tunnel peer either). Its IPv6 has no IPv4 peer to name.
      ...entry(n.ipv4, RESERVED['remote-node'], peer),
      ...entry(n.ipv6, RESERVED['remote-node'], {}),
      ...entry(n.healthV4, RESERVED.health, peer),
      ...entry(n.healthV6, RESERVED.health, peer),
      ...(tunnel && n.ipv4 !== undefined
        ? [
            ...entry(n.podCidrV4, RESERVED['world-ipv4'], peer),
            ...entry(n.podCidrV6, RESERVED['world-ipv6'], peer),
          ]
        : []),
    ].filter(defined);
  });
}
