// The nodes the agent knows, as the node cell provides them: the local node (its addresses and
// pod CIDRs, read when asked) and those of --nodes-file, watched while the cell runs.
import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import type { DaemonConfig } from '../daemon/index.js';
import type { Ipam } from '../ipam/index.js';
import { localNodeElement } from './cluster.js';
import type { NodeConfig } from './config.js';
import type { NodeIds } from './ids.js';
import { NodeList, syncNodeIds, type ClusterNodeList } from './registry.js';
import { StaticNodesWatcher } from './static-nodes.js';

/** What the node list needs. */
export interface ClusterNodeListParams {
  readonly ids: NodeIds;
  readonly daemon: DaemonConfig;
  readonly ipam: Ipam;
  readonly config: NodeConfig;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/** The local node and, with --nodes-file, the static nodes (their ids allocated as they come). */
export function newClusterNodeList(p: ClusterNodeListParams): ClusterNodeList {
  const { ids, daemon, ipam, config, lifecycle, health, logger } = p;
  const list = new NodeList(`${daemon.clusterName}/${daemon.nodeName}`, () =>
    localNodeElement(`${daemon.clusterName}/${daemon.nodeName}`, ids.localIps, {
      ipv4: ipam.pools.get('ipv4')?.cidr,
      ipv6: ipam.pools.get('ipv6')?.cidr,
    }),
  );
  const file = config.nodesFile;
  if (file === '') return list;
  const h = health.scope('nodes-file');
  const watcher = new StaticNodesWatcher({
    file,
    periodMs: 5000,
    onNodes: (nodes) => {
      const errors = syncNodeIds(ids, list.staticNodes, nodes);
      list.setStatic(nodes);
      if (errors.length > 0) h.degraded(`${file}: no node id for ${errors.join('; ')}`);
      else h.ok(`${nodes.length} nodes from ${file}`);
      logger.info({ file, nodes: nodes.map((n) => n.name) }, 'nodes file read');
    },
    onError: (e) => {
      const kept = list.staticNodes.length;
      h.degraded(`${e.message} (keeping the ${kept} nodes read before)`, e);
      logger.warn({ file, err: e.message }, 'nodes file not used');
    },
  });
  lifecycle.append({ onStart: () => watcher.start(), onStop: () => watcher.stop() }, 'nodes-file');
  return list;
}
