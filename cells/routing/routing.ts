// Pod traffic between nodes, kept in line with the node list: the ipcache entries of the other
// nodes, their node ids, and per mode the kernel's side (tunnel: cellium_vxlan, bpf_overlay and
// cellium_routing; native with --auto-direct-node-routes: a route per pod CIDR). Synced at start,
// on every change of the node list, and every 30 s (a route or device someone removed comes back).
import type { Model } from '../../core/api/index.js';
import {
  errorMessage,
  token,
  type Health,
  type Jobs,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import { readSysctl, writeSysctl } from '../../core/net/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { IpcacheEntry, IpcacheUpsert, IpcacheWriter } from '../ipcache/index.js';
import type { DatapathMaps, MonitorMaps } from '../maps/index.js';
import type { ClusterNodeList, NodeIds } from '../node/index.js';
import type { RoutingConfig, RoutingMode } from './config.js';
import { ROUTING_MODE_VALUE, type RoutingMaps } from './maps.js';
import { nodeEntries, remoteNodes, type RemoteNode } from './nodes.js';
import { desiredRoutes, syncRoutes } from './routes.js';
import { ensureTunnel, removeTunnel, tunnelIndex, TUNNEL_DEVICE } from './tunnel.js';

/** VXLAN's overhead over an IPv4 underlay: outer Ethernet, IPv4, UDP and VXLAN headers. */
export const VXLAN_OVERHEAD = 50;

/** What routing needs. */
export interface RoutingParams {
  readonly config: RoutingConfig;
  readonly nodes: ClusterNodeList;
  readonly ids: NodeIds;
  readonly db: DB;
  readonly ipcache: IpcacheWriter;
  readonly ipcacheTable: Table<IpcacheEntry>;
  readonly maps: DatapathMaps;
  readonly routingMaps: RoutingMaps;
  readonly monitor: MonitorMaps;
  readonly lifecycle: Lifecycle;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
}

/** Routing between nodes, as other cells see it. */
export interface Routing {
  readonly mode: RoutingMode;
  /** `/v1/healthz` `routing` (Cilium's Routing model). */
  status(): Model<'Routing'>;
  /** The MTU pods' routes get for a device MTU (tunnel mode: less the encapsulation). */
  routeMtu(deviceMtu: number): number;
  /** Brings everything in line with the node list now. */
  sync(): void;
}

/** Routing between nodes (the mode, cellium_vxlan, node routes, the nodes' ipcache entries). */
export const Routing = token<Routing>('routing/Routing');

const same = (a: IpcacheEntry, b: IpcacheUpsert): boolean =>
  a.identity === b.identity && a.source === b.source && a.hostIP === (b.hostIP ?? '');

/** Routing over the node list; starts with the cell, after the node cell. */
export function newRouting(p: RoutingParams): Routing {
  const mode = p.config.routingMode;
  const tunnel = mode === 'tunnel';
  const kernel = (): boolean => p.maps.backend === 'kernel';
  // ipcache prefixes this cell wrote (with what), so it never overwrites or deletes another
  // source's entry for the same prefix (a kvstore endpoint at a health address, say).
  let mine = new Map<string, IpcacheUpsert>();
  // Node ids this cell gave (a node whose source gave it none): released when the node goes.
  const ownIds = new Map<string, readonly string[]>();
  let device: number | undefined;
  /** The bpf_overlay this agent attached (kept while it stays attached). */
  let overlay: number | undefined;
  let forwarding = false;
  let running = false;

  const nodeIpv4 = (): string => p.ids.localIps.find((ip) => !ip.includes(':')) ?? '0.0.0.0';
  const writeConfig = (): void => {
    p.routingMaps.set({
      mode: ROUTING_MODE_VALUE[mode],
      tunnel_ifindex: tunnel ? (device ?? 0) : 0,
      node_ipv4: nodeIpv4(),
    });
  };

  const syncIpcache = (remote: readonly RemoteNode[]): void => {
    const want = nodeEntries(remote, tunnel);
    const txn = p.db.readTxn();
    const next = new Map<string, IpcacheUpsert>();
    const rows: IpcacheUpsert[] = [];
    for (const e of want) {
      const have = p.ipcacheTable.get(txn, e.prefix);
      const prev = mine.get(e.prefix);
      if (have && !(prev && same(have, prev))) continue; // another source's
      rows.push(e);
      next.set(e.prefix, e);
    }
    if (rows.length > 0) p.ipcache.upsertAll(rows);
    for (const [prefix, e] of mine) {
      if (next.has(prefix)) continue;
      const have = p.ipcacheTable.get(txn, prefix);
      if (have && same(have, e)) p.ipcache.delete(prefix);
    }
    mine = next;
  };

  const syncIds = (remote: readonly RemoteNode[]): string[] => {
    const errors: string[] = [];
    const present = new Set<string>();
    for (const n of remote) {
      const ips = [n.ipv4, n.ipv6].filter((ip): ip is string => ip !== undefined);
      const key = `${n.name} ${ips.join(',')}`;
      present.add(key);
      if (ips.length === 0 || ips.every((ip) => p.ids.idOf(ip) !== undefined)) continue;
      try {
        p.ids.allocate(ips);
        ownIds.set(key, ips);
      } catch (e) {
        errors.push(`${n.name}: no node id: ${errorMessage(e)}`);
      }
    }
    for (const [key, ips] of ownIds) {
      if (present.has(key)) continue;
      p.ids.release(ips);
      ownIds.delete(key);
    }
    return errors;
  };

  const syncKernel = (remote: readonly RemoteNode[]): string[] => {
    const errors: string[] = [];
    if (remote.length > 0 && !forwarding) {
      // Pods' packets for other nodes (native) and from the tunnel to the stack are routed.
      for (const key of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
        try {
          if (readSysctl(key) !== '1') writeSysctl(key, 1);
        } catch (e) {
          errors.push(`cannot turn on ${key}: ${errorMessage(e)}`);
        }
      }
      forwarding = errors.length === 0;
    }
    if (tunnel) {
      // Made with the first other node (a single node needs none), or adopted if it is there.
      if (remote.length > 0 || device !== undefined || tunnelIndex() !== undefined) {
        try {
          const d = ensureTunnel({
            port: p.config.tunnelPort,
            objectPath: p.config.bpfOverlayObject,
            maps: () => [p.maps.lxc.raw, p.maps.metrics.raw, ...p.monitor.programMaps()],
            ...(overlay !== undefined ? { attached: overlay } : {}),
          });
          overlay = d.programId;
          if (d.ifindex !== device || d.how !== 'adopted') {
            p.logger.info({ device: TUNNEL_DEVICE, ifindex: d.ifindex }, `tunnel device ${d.how}`);
          }
          device = d.ifindex;
        } catch (e) {
          device = undefined;
          overlay = undefined;
          errors.push(`${TUNNEL_DEVICE}: ${errorMessage(e)}`);
        }
      }
    } else {
      try {
        overlay = undefined;
        if (removeTunnel()) p.logger.info(`${TUNNEL_DEVICE} removed (native routing)`);
      } catch (e) {
        errors.push(`cannot remove ${TUNNEL_DEVICE}: ${errorMessage(e)}`);
      }
    }
    writeConfig();
    // Native routes only with --auto-direct-node-routes; otherwise the agent's are pruned.
    const want = !tunnel && p.config.autoDirectNodeRoutes ? desiredRoutes(remote) : [];
    const r = syncRoutes(want);
    for (const x of [...r.added, ...r.removed]) {
      p.logger.info(
        { dst: x.dst, via: x.gateway },
        r.added.includes(x) ? 'node route set' : 'node route removed',
      );
    }
    for (const f of r.failed)
      errors.push(`route ${f.route.dst} via ${f.route.gateway}: ${f.error}`);
    return errors;
  };

  const sync = (): void => {
    if (!running) return;
    let remote: RemoteNode[];
    try {
      remote = remoteNodes(p.nodes.list(), p.nodes.self);
    } catch (e) {
      p.health.degraded(`cannot read the node list: ${errorMessage(e)}`, e);
      return;
    }
    const errors = [...syncIds(remote)];
    syncIpcache(remote);
    if (kernel()) errors.push(...syncKernel(remote));
    else writeConfig();
    const what = tunnel
      ? `tunnel (vxlan, port ${p.config.tunnelPort}${device !== undefined ? `, ${TUNNEL_DEVICE} ifindex ${device}` : ''})`
      : `native${p.config.autoDirectNodeRoutes ? ' with direct node routes' : ''}`;
    const msg = `${what}: ${remote.length} other nodes${kernel() ? '' : ' (in-memory maps: no devices or routes)'}`;
    if (errors.length > 0) p.health.degraded(`${msg}; ${errors.join('; ')}`);
    else p.health.ok(msg);
  };

  p.lifecycle.append(
    {
      onStart: () => {
        running = true;
        if (kernel() && tunnel) device = tunnelIndex();
        sync();
        p.jobs.observer('node-changes', p.nodes.changes$, () => sync());
        p.jobs.timer('resync', () => sync(), 30_000);
      },
      onStop: () => {
        // Device, program, routes and the map's pin stay: the datapath keeps forwarding.
        running = false;
      },
    },
    'routing',
  );

  return {
    mode,
    status: () => ({
      'intra-host-routing-mode': 'BPF',
      'inter-host-routing-mode': tunnel ? 'Tunnel' : 'Native',
      'tunnel-protocol': tunnel ? p.config.tunnelProtocol : '',
    }),
    routeMtu: (deviceMtu) => (tunnel ? deviceMtu - VXLAN_OVERHEAD : deviceMtu),
    sync,
  };
}
