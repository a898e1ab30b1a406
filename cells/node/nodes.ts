import { openMap, type MapRegistry } from '../../core/bpf/index.js';
import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import type { LinkInfo } from '../../core/net/index.js';
import type { DatapathMaps } from '../maps/index.js';
import type { NodeConfig } from './config.js';
import { NODE_MAP } from './defs.js';
import { NodeIdsUnavailableError, NodeIdTable, type NodeIdEntry, type NodeIds } from './ids.js';
import { localNodeIps } from './local.js';

/** What the node ids need. */
export interface NodeIdsParams {
  readonly config: NodeConfig;
  /** Where and on which backend the agent's maps live (the maps cell starts first). */
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
  /** The host's devices, for --ipv4-node/--ipv6-node auto. */
  readonly links: () => readonly LinkInfo[];
}

/**
 * Opens cellium_node_map at start (its pin reused, so ids survive restarts), restores the
 * allocations it holds, and closes it (keeping the pin) at stop.
 */
export function newNodeIds(p: NodeIdsParams): NodeIds {
  let table: NodeIdTable | undefined;
  const open = (): NodeIdTable => {
    if (!table) {
      throw new NodeIdsUnavailableError('node ids are not available: the node cell is not running');
    }
    return table;
  };
  const report = (): void => {
    const t = open();
    const remote = t.list().filter((e) => e.id !== 0);
    const ips = remote.reduce((n, e) => n + e.ips.length, 0);
    const local = t.localIps.length > 0 ? t.localIps.join(', ') : 'no IP';
    p.health.ok(
      `local node ${local} (id 0); ${remote.length} remote node ids, ${ips} IPs in ${NODE_MAP.name}`,
    );
  };

  p.lifecycle.append(
    {
      onStart: () => {
        const local = localNodeIps(p.config, p.links);
        const m = openMap(NODE_MAP, {
          backend: p.maps.backend,
          pinDir: p.maps.pinDir,
          maxEntries: p.config.bpfNodeMapMax,
          log: (msg, outcome, r) => {
            const fields = { map: NODE_MAP.name, outcome };
            if (r.problem === undefined) p.logger.info(fields, msg);
            else p.logger.warn(fields, `${msg} (sized by --bpf-node-map-max)`);
          },
          debug: (msg) => p.logger.debug({ map: NODE_MAP.name }, msg),
        }).enableEvents();
        const t = new NodeIdTable(m, local);
        try {
          const { restored, removed } = t.restore(p.logger);
          p.logger.info(
            { restored, removed, local },
            `restored ${restored} node IPs from ${NODE_MAP.name}` +
              (removed > 0 ? `; removed ${removed} invalid entries (id 0 or a local IP)` : ''),
          );
        } catch (e) {
          m.close();
          throw e;
        }
        p.registry.add(m);
        table = t;
        report();
      },
      onStop: () => {
        if (!table) return;
        p.registry.remove(NODE_MAP.name);
        table.close();
        table = undefined;
        p.health.stopped('closed');
      },
    },
    'node-map',
  );

  return {
    allocate(ips, spi) {
      const id = open().allocate(ips, spi);
      report();
      return id;
    },
    release(ips) {
      open().release(ips);
      report();
    },
    idOf: (ip) => open().idOf(ip),
    list: (): NodeIdEntry[] => open().list(),
    get localIps() {
      return open().localIps;
    },
  };
}
