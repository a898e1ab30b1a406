import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { Subject, type Observable } from 'rxjs';
import {
  BpfError,
  ensureBpffs,
  MapRegistry,
  MapType,
  openMap,
  probeKernel,
  type Backend,
  type BpfMap,
  type MapSpec,
  type PinReport,
} from '../../core/bpf/index.js';
import {
  errorMessage,
  token,
  type Health,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import { configuredSize, SIZE_FLAGS, type MapsConfig } from './config.js';
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
  /** Counts each map's entries now and reports its health: what the pressure job runs. */
  checkPressure(): Promise<readonly MapPressure[]>;
  /** What the last pressure check found (empty before the first; `bpf_map_pressure`). */
  lastPressure(): readonly MapPressure[];
  /** Emits a map's name when a write to it failed because it is full. */
  readonly full: Observable<string>;
}

/** How full a map is, as the pressure check found it. */
export interface MapPressure {
  readonly name: string;
  readonly entries: number;
  readonly maxEntries: number;
  /** entries / maxEntries */
  readonly ratio: number;
  /** The flag that sizes the map. */
  readonly flag: string | undefined;
  /** At or above PRESSURE_THRESHOLD. */
  readonly high: boolean;
}

/** The fill ratio at which a map's health turns degraded, before it is full. */
export const PRESSURE_THRESHOLD = 0.9;

/** How often the pressure job counts entries (and at once after a write found a map full). */
export const PRESSURE_INTERVAL_MS = 30_000;

/** How long a count may take before /healthz calls `bpf-maps` stale. */
export const PRESSURE_TIMEOUT_MS = 10_000;

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

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 2 : 1)}%`;
}

/**
 * Counts a map's entries, letting the event loop in every few milliseconds: an LPM trie has no
 * batch lookup, and walking 512k keys one syscall each would stall the agent for a second.
 */
async function countSliced(m: BpfMap<unknown, unknown>): Promise<number> {
  let n = 0;
  let until = performance.now() + 5;
  for (const _ of m.keys()) {
    n++;
    if ((n & 1023) === 0 && performance.now() > until) {
      await setImmediate();
      until = performance.now() + 5;
    }
  }
  return n;
}

function isFull(e: unknown): boolean {
  return e instanceof BpfError && e.mapFull;
}

/**
 * Opens the agent's maps at start, sized by their flags and reusing (or migrating) their pins so
 * the datapath keeps its state across restarts, and closes them (keeping the pins) at stop.
 * Each map's health says how full it is, and what went wrong with its pin, if anything.
 */
export function newDatapathMaps(p: MapsParams): DatapathMaps {
  const pinDir = join(p.config.bpfRoot, 'tc', 'globals');
  let state:
    | {
        backend: Backend;
        maps: Map<string, BpfMap<unknown, unknown>>;
        /** What went wrong with each map's pin (kept at its old size, or kept aside). */
        problems: Map<string, string>;
        unwatch: (() => void)[];
      }
    | undefined;
  const above = new Set<string>();
  const full = new Subject<string>();
  const get = <K, V>(spec: MapSpec<K, V>): BpfMap<K, V> => {
    const m = state?.maps.get(spec.name);
    if (!m) throw new Error(`map ${spec.name} is not open: the maps cell has not started`);
    return m as unknown as BpfMap<K, V>;
  };
  const flagHint = (name: string): string => {
    const flag = SIZE_FLAGS[name];
    return flag === undefined ? '' : ` (sized by --${flag})`;
  };
  const onPin = (spec: MapSpec<unknown, unknown>, r: PinReport, s: NonNullable<typeof state>) => {
    const fields = { map: spec.name, outcome: r.outcome };
    if (r.problem === undefined) {
      p.logger.info(fields, r.message);
      return;
    }
    s.problems.set(spec.name, `${r.problem}${flagHint(spec.name)}`);
    if (r.outcome === 'kept-aside') p.logger.error(fields, r.message);
    else p.logger.warn(fields, `${r.message}${flagHint(spec.name)}`);
  };

  let last: readonly MapPressure[] = [];
  const checkPressure = async (): Promise<MapPressure[]> => {
    const out = await countPressure();
    if (state) last = out;
    return out;
  };
  const countPressure = async (): Promise<MapPressure[]> => {
    const out: MapPressure[] = [];
    for (const [name, m] of state?.maps ?? []) {
      const health = p.health.scope(name);
      const flag = SIZE_FLAGS[name];
      let entries: number;
      try {
        entries = await countSliced(m);
        if (!state) return out; // stopped meanwhile
      } catch (e) {
        health.degraded(`cannot count the entries of ${name}: ${errorMessage(e)}`, e);
        continue;
      }
      const maxEntries = m.raw.maxEntries;
      const ratio = entries / maxEntries;
      // An array has every slot; LRU maps are meant to run full and evict.
      const sized = ![
        MapType.Array,
        MapType.PerCpuArray,
        MapType.LruHash,
        MapType.LruPerCpuHash,
      ].includes(m.raw.type);
      const high = sized && ratio >= PRESSURE_THRESHOLD;
      out.push({ name, entries, maxEntries, ratio, flag, high });
      const fill = `${entries}/${maxEntries} entries (${percent(ratio)})`;
      const raise = flag === undefined ? '' : `; raise --${flag}`;
      if (high && !above.has(name)) {
        above.add(name);
        p.logger.warn(
          { map: name, entries, maxEntries },
          `map ${name} is ${percent(ratio)} full (${entries} of ${maxEntries} entries)${raise}`,
        );
      } else if (!high && above.delete(name)) {
        p.logger.info(
          { map: name, entries, maxEntries },
          `map ${name} is below ${percent(PRESSURE_THRESHOLD)} full again (${fill})`,
        );
      }
      const problem = state.problems.get(name);
      const pressure = high
        ? `${name} holds ${fill}, at or above ${percent(PRESSURE_THRESHOLD)}${raise}`
        : fill;
      if (problem !== undefined) health.degraded(`${name}: ${problem}; ${pressure}`);
      else if (high) health.degraded(pressure);
      else health.ok(fill);
    }
    return out;
  };

  p.lifecycle.append(
    {
      onStart: () => {
        const backend = chooseBackend(p);
        if (backend === 'kernel') ensureBpffs(p.config.bpfRoot);
        const s: NonNullable<typeof state> = {
          backend,
          maps: new Map(),
          problems: new Map(),
          unwatch: [],
        };
        try {
          for (const spec of AGENT_MAPS as readonly MapSpec<unknown, unknown>[]) {
            const maxEntries = configuredSize(p.config, spec.name);
            const m = openMap(spec, {
              backend,
              pinDir,
              ...(maxEntries === undefined ? {} : { maxEntries }),
              log: (_, __, r) => {
                onPin(spec, r, s);
              },
              debug: (msg) => p.logger.debug({ map: spec.name }, msg),
            }).enableEvents();
            s.maps.set(spec.name, m);
            s.unwatch.push(
              m.watchErrors((e) => {
                if (isFull(e)) full.next(spec.name);
              }),
            );
            p.registry.add(m);
          }
        } catch (e) {
          for (const m of s.maps.values()) {
            p.registry.remove(m.name);
            m.close();
          }
          throw e;
        }
        state = s;
        above.clear();
        void checkPressure();
        p.health.ok(
          `${s.maps.size} maps open (${backend}${backend === 'kernel' ? `, pinned under ${pinDir}` : ''})`,
        );
      },
      onStop: () => {
        for (const u of state?.unwatch ?? []) u();
        for (const m of state?.maps.values() ?? []) {
          p.registry.remove(m.name);
          m.close();
        }
        for (const name of state?.maps.keys() ?? []) p.health.scope(name).stopped('closed');
        state = undefined;
        last = [];
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
    checkPressure,
    lastPressure: () => last,
    full,
  };
}
