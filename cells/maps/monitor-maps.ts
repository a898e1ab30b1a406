// The monitor's maps, declared (layouts as datapath-c/include/cellium/events.h) and opened at run
// time: cellium_events (the ring, sized by --bpf-events-ring-size),
// cellium_monitor_config (listeners and aggregation, which gate traces and verdicts) and
// cellium_events_lost (per CPU). Opened at the maps cell's start, or earlier by whoever loads a
// program first (the endpoint cell loads bpf_lxc before it may start): never loaded
// without them. Pins are kept at stop, so the programs keep reporting into the same ring.
import {
  mapSpec,
  MapType,
  openMap,
  perCpuMapSpec,
  ringBufSpec,
  struct,
  type BpfMap,
  type MapSpec,
  type RawMap,
} from '../../core/bpf/index.js';
import { token, type Lifecycle } from '../../core/hive/index.js';
import type { DatapathMaps } from './maps.js';

/** --monitor-aggregation levels as the datapath reads them (MONITOR_AGG_* of events.h). */
export const AGGREGATION = { none: 0, low: 1, medium: 2, maximum: 3 } as const;

/** An aggregation level's name. */
export type AggregationLevel = keyof typeof AGGREGATION;

/** cellium_monitor_config[0]: what the agent tells the datapath. */
export interface MonitorConfigValue {
  /** Monitor clients attached; traces and verdicts are written only when not 0. */
  readonly listeners: number;
  /** AGGREGATION level. */
  readonly aggregation: number;
}

/** The u32 key of a one-entry array. */
export interface ArrayKey {
  readonly index: number;
}

const arrayKey = struct<ArrayKey>('__u32', [['index', 'u32']]);

/** cellium_monitor_config: one entry the datapath reads per packet (array, never pinned stale). */
export const MONITOR_CONFIG_MAP = mapSpec({
  name: 'cellium_monitor_config',
  type: MapType.Array,
  key: arrayKey,
  value: struct<MonitorConfigValue>('monitor_config', [
    ['listeners', 'u32'],
    ['aggregation', 'u32'],
  ]),
  maxEntries: 1,
});

/** cellium_events_lost: events the ring had no room for, per CPU. */
export const EVENTS_LOST_MAP = perCpuMapSpec({
  name: 'cellium_events_lost',
  type: MapType.PerCpuArray,
  key: arrayKey,
  value: struct<{ count: bigint }>('__u64', [['count', 'u64']]),
  maxEntries: 1,
});

/** The default size of cellium_events (--bpf-events-ring-size): ~12,000 events of 176 bytes. */
export const EVENTS_RING_DEFAULT = 2 * 1024 * 1024;

/** cellium_events of `sizeBytes` (a power of two, at least a page). */
export function eventsMapSpec(sizeBytes: number): MapSpec<never, never> {
  return ringBufSpec('cellium_events', sizeBytes);
}

/** The monitor's maps, open while the cell runs. */
export interface MonitorMaps {
  /** What every program is loaded with: cellium_events, cellium_monitor_config, cellium_events_lost. */
  programMaps(): RawMap[];
  /** The ring programs write events into. */
  ring(): RawMap;
  /** Its size in bytes. */
  readonly ringBytes: number;
  /** Tells the datapath how many monitors listen and at which aggregation level. */
  setConfig(c: MonitorConfigValue): void;
  /** Events the ring had no room for, over every CPU, since the ring was created. */
  lost(): number;
}

/** The monitor's maps (programs are loaded with them). */
export const MonitorMaps = token<MonitorMaps>('maps/MonitorMaps');

interface Open {
  readonly ring: BpfMap<never, never>;
  readonly config: BpfMap<ArrayKey, MonitorConfigValue>;
  readonly lost: BpfMap<ArrayKey, { count: bigint }[]>;
}

/** Opens the maps on first use; closes them (pins kept) at stop. */
export function newMonitorMaps(p: {
  readonly maps: DatapathMaps;
  readonly ringBytes: number;
  readonly lifecycle: Lifecycle;
}): MonitorMaps {
  let open: Open | undefined;
  let stopped = false;
  let wanted: MonitorConfigValue = { listeners: 0, aggregation: 0 };
  const get = (): Open => {
    if (open) return open;
    if (stopped) throw new Error('the monitor maps are closed: the maps cell has stopped');
    const o = { backend: p.maps.backend, pinDir: p.maps.pinDir };
    const opened: { close(): void }[] = [];
    try {
      const ring = openMap(eventsMapSpec(p.ringBytes), o);
      opened.push(ring);
      const config = openMap(MONITOR_CONFIG_MAP, o);
      opened.push(config);
      const lost = openMap(EVENTS_LOST_MAP, o);
      opened.push(lost);
      // A restarted agent has no monitor client yet: nothing traced until one attaches.
      config.update({ index: 0 }, wanted);
      open = { ring, config, lost };
      return open;
    } catch (e) {
      for (const m of opened) m.close();
      throw e;
    }
  };
  p.lifecycle.append(
    {
      onStart: () => {
        stopped = false;
        get();
      },
      onStop: () => {
        stopped = true;
        if (!open) return;
        // Nobody reads the ring while the agent is down: traces stop, drops still go in.
        open.config.update({ index: 0 }, { ...wanted, listeners: 0 });
        open.ring.close();
        open.config.close();
        open.lost.close();
        open = undefined;
      },
    },
    'monitor-maps',
  );
  return {
    programMaps: () => {
      const o = get();
      return [o.ring.raw, o.config.raw, o.lost.raw];
    },
    ring: () => get().ring.raw,
    ringBytes: p.ringBytes,
    setConfig: (c) => {
      wanted = c;
      get().config.update({ index: 0 }, c);
    },
    lost: () => {
      if (!open) return 0;
      const v = open.lost.lookup({ index: 0 });
      return Number((v ?? []).reduce((n, x) => n + x.count, 0n));
    },
  };
}
