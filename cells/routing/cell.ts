import {
  config,
  ConfigError,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { IpcacheTable, IpcacheWriter } from '../ipcache/index.js';
import { DatapathMaps, Maps, MonitorMaps } from '../maps/index.js';
import { ClusterNodeList, NodeIds } from '../node/index.js';
import { StateDB } from '../statedb/index.js';
import { routingConfigProblem, routingFlags, RoutingConfig } from './config.js';
import { newRoutingMaps, RoutingMaps } from './maps.js';
import { newRouting, Routing } from './routing.js';

/** Pod traffic between nodes: native routes or a VXLAN tunnel, kept in line with the node list. */
export const routingCell = module(
  'routing',
  'Pod traffic to other nodes: native routes or VXLAN',
  // --routing-mode, --tunnel-protocol, --tunnel-port, --auto-direct-node-routes,
  // --ipv4-native-routing-cidr, --bpf-overlay-object
  config(RoutingConfig, routingFlags),
  // cellium_routing: the mode and tunnel device bpf_lxc reads (pinned, opened on first use).
  provide(
    RoutingMaps,
    { maps: DatapathMaps, registry: Maps, lifecycle: Lifecycle },
    newRoutingMaps,
  ),
  // The other nodes' ipcache entries and node ids, and the device, program or routes of the
  // mode; synced at start, on node list changes and every 30 s. Flags that do not go together
  // stop the agent before anything starts, as Cilium's validation does.
  provide(
    Routing,
    {
      config: RoutingConfig,
      nodes: ClusterNodeList,
      ids: NodeIds,
      db: StateDB,
      ipcache: IpcacheWriter,
      ipcacheTable: IpcacheTable,
      maps: DatapathMaps,
      routingMaps: RoutingMaps,
      monitor: MonitorMaps,
      lifecycle: Lifecycle,
      jobs: Jobs,
      health: Health,
      logger: Logger,
    },
    (p) => {
      const problem = routingConfigProblem(p.config);
      if (problem) throw new ConfigError([problem]);
      return newRouting(p);
    },
  ),
  // /v1/healthz routing, and /v1/config routeMTU (what the CNI plugin gives pods' routes).
  invoke(
    'status',
    { routing: Routing, status: StatusContributors, daemon: DaemonConfig },
    ({ routing, status, daemon }) => {
      status.add({
        status: (s) => {
          s.routing = routing.status();
        },
        config: (c) => {
          c.routeMTU = routing.routeMtu(c.deviceMTU ?? daemon.mtu);
        },
      });
    },
  ),
);
