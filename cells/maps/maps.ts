import { join } from 'node:path';
import {
  ensureBpffs,
  MapRegistry,
  openMap,
  probeKernel,
  type Backend,
  type BpfMap,
  type MapSpec,
} from '../../core/bpf/index.js';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import type { MapsConfig } from './config.js';
import {
  AGENT_MAPS,
  IPCACHE_MAP,
  LXC_MAP,
  METRICS_MAP,
  type EndpointInfo,
  type EndpointKey,
  type IpcacheKey,
  type MetricsKey,
  type MetricsValue,
  type RemoteEndpointInfo,
} from './defs.js';

/** The agent's maps, open while the maps cell runs. */
export interface DatapathMaps {
  readonly backend: Backend;
  /** Where maps are pinned (kernel backend). */
  readonly pinDir: string;
  readonly lxc: BpfMap<EndpointKey, EndpointInfo>;
  readonly ipcache: BpfMap<IpcacheKey, RemoteEndpointInfo>;
  readonly metrics: BpfMap<MetricsKey, MetricsValue[]>;
}

/** The agent's maps (available once the maps cell has started). */
export const DatapathMaps = token<DatapathMaps>('maps/DatapathMaps');

/** Every map the agent owns, for `map list`; other cells add theirs (e.g. policy maps). */
export const Maps = token<MapRegistry>('maps/Maps');

/** What the maps cell needs. */
export interface MapsParams {
  readonly config: MapsConfig;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

function chooseBackend(p: MapsParams): Backend {
  if (p.config.bpfBackend !== 'auto') return p.config.bpfBackend;
  const probe = probeKernel();
  if (probe.ok) return 'kernel';
  p.logger.warn(
    `bpf() is not usable (${probe.reason}): using in-memory maps; nothing reaches the kernel`,
  );
  return 'memory';
}

/**
 * Opens the agent's maps at start, reusing their pins so the datapath keeps its state across
 * restarts, and closes them (keeping the pins) at stop.
 */
export function newDatapathMaps(p: MapsParams): DatapathMaps {
  const pinDir = join(p.config.bpfRoot, 'tc', 'globals');
  let state: { backend: Backend; maps: Map<string, BpfMap<unknown, unknown>> } | undefined;
  const get = <K, V>(spec: MapSpec<K, V>): BpfMap<K, V> => {
    const m = state?.maps.get(spec.name);
    if (!m) throw new Error(`map ${spec.name} is not open: the maps cell has not started`);
    return m as unknown as BpfMap<K, V>;
  };
  p.lifecycle.append(
    {
      onStart: () => {
        const backend = chooseBackend(p);
        if (backend === 'kernel') ensureBpffs(p.config.bpfRoot);
        const maps = new Map<string, BpfMap<unknown, unknown>>();
        try {
          for (const spec of AGENT_MAPS) {
            const m = openMap(spec as MapSpec<unknown, unknown>, {
              backend,
              pinDir,
              log: (msg, outcome) => p.logger.info({ map: spec.name, outcome }, msg),
            }).enableEvents();
            maps.set(spec.name, m);
            p.registry.add(m);
          }
        } catch (e) {
          for (const m of maps.values()) m.close();
          throw e;
        }
        state = { backend, maps };
        p.health.ok(
          `${maps.size} maps open (${backend}${backend === 'kernel' ? `, pinned under ${pinDir}` : ''})`,
        );
      },
      onStop: () => {
        for (const m of state?.maps.values() ?? []) {
          p.registry.remove(m.name);
          m.close();
        }
        state = undefined;
      },
    },
    'open-maps',
  );
  return {
    get backend() {
      if (!state) throw new Error('the maps cell has not started');
      return state.backend;
    },
    pinDir,
    get lxc() {
      return get(LXC_MAP);
    },
    get ipcache() {
      return get(IPCACHE_MAP);
    },
    get metrics() {
      return get(METRICS_MAP);
    },
  };
}
