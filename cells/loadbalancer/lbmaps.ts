// The load balancer's maps at run time: opened at the cell's start beside the agent's (reusing or
// migrating their pins), sized by the --bpf-lb-* flags, closed at stop with their pins kept so
// the datapath keeps serving services while the agent restarts.
import type { BpfMap, MapRegistry, RawMap } from '../../core/bpf/index.js';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import {
  openOwnedMaps,
  type DatapathMaps,
  type OwnedMapSpec,
  type OwnedMaps,
} from '../maps/index.js';
import { lbMapSizes, type LbConfig } from './config.js';
import {
  AFFINITY_MATCH_MAP,
  LB4,
  LB6,
  LB_CONFIG_MAP,
  LB_DEVICES_MAP,
  type LbAffinityMatch,
  type LbAffinityKey,
  type LbAffinityVal,
  type LbBackend,
  type LbBackendKey,
  type LbProgConfig,
  type LbDevice,
  type LbDeviceKey,
  type LbFamilySpecs,
  type LbIndex,
  type LbKey,
  type LbMaglevKey,
  type LbMapId,
  type LbPresent,
  type LbRevNat,
  type LbRevNatKey,
  type LbService,
  type LbSockEntry,
  type LbSockTuple,
  type LbSrcRangeKey,
} from './maps.js';

/** The open maps of one address family. */
export interface LbFamilyMaps {
  readonly services: BpfMap<LbKey, LbService>;
  readonly backends: BpfMap<LbBackendKey, LbBackend>;
  readonly revNat: BpfMap<LbRevNatKey, LbRevNat>;
  readonly affinity: BpfMap<LbAffinityKey, LbAffinityVal>;
  readonly sourceRange: BpfMap<LbSrcRangeKey, LbPresent>;
  readonly maglev: BpfMap<LbMaglevKey, LbMapId>;
  readonly sockRevNat: BpfMap<LbSockTuple, LbSockEntry>;
}

/** The load balancer's open maps. */
export interface LbMapSet {
  readonly v4: LbFamilyMaps;
  readonly v6: LbFamilyMaps;
  readonly affinityMatch: BpfMap<LbAffinityMatch, LbPresent>;
  readonly config: BpfMap<LbIndex, LbProgConfig>;
  readonly devices: BpfMap<LbDeviceKey, LbDevice>;
  /** Every map (what programs that translate services reuse). */
  all(): BpfMap<unknown, unknown>[];
  /** The flag that sizes a map. */
  flagOf(name: string): string | undefined;
}

/** The load balancer's maps, open while the cell runs. */
export interface LbMaps {
  /** The open maps; throws while the cell is not running. */
  readonly open: LbMapSet;
  /** Whether the maps are open. */
  readonly running: boolean;
}

/** The load balancer's maps. */
export const LbMaps = token<LbMaps>('loadbalancer/LbMaps');

/** Wraps each LB map's backend as it is opened: identity, or a FaultyMap in tests. */
export const LbMapWrap = token<(raw: RawMap) => RawMap>('loadbalancer/LbMapWrap');

function family(o: OwnedMaps, s: LbFamilySpecs): LbFamilyMaps {
  return {
    services: o.get(s.services),
    backends: o.get(s.backends),
    revNat: o.get(s.revNat),
    affinity: o.get(s.affinity),
    sourceRange: o.get(s.sourceRange),
    maglev: o.get(s.maglev),
    sockRevNat: o.get(s.sockRevNat),
  };
}

/** Opens the maps (sized by the flags) and writes the programs' configuration into them. */
export function openLbMaps(p: {
  readonly config: LbConfig;
  readonly ratio: number;
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly logger: Logger;
  readonly health: Health;
  readonly wrap: (raw: RawMap) => RawMap;
}): { set: LbMapSet; close: () => void } {
  const size = lbMapSizes(p.config, p.ratio);
  const specs = [LB4, LB6].flatMap((f) => [
    { spec: f.services, maxEntries: size.services, flag: 'bpf-lb-service-map-max' },
    { spec: f.backends, maxEntries: size.backends, flag: 'bpf-lb-service-backend-map-max' },
    { spec: f.revNat, maxEntries: size.revNat, flag: 'bpf-lb-rev-nat-map-max' },
    { spec: f.affinity, maxEntries: size.affinity, flag: 'bpf-lb-affinity-map-max' },
    { spec: f.sourceRange, maxEntries: size.sourceRange, flag: 'bpf-lb-source-range-map-max' },
    {
      spec: f.maglev,
      maxEntries: size.maglev,
      innerMaxEntries: p.config.bpfLbMaglevTableSize,
      flag: 'bpf-lb-maglev-map-max',
    },
    { spec: f.sockRevNat, maxEntries: size.sockRevNat, flag: 'bpf-sock-rev-map-max' },
  ]);
  const owned = openOwnedMaps({
    ...p,
    specs: [
      ...specs,
      { spec: AFFINITY_MATCH_MAP, maxEntries: size.affinity, flag: 'bpf-lb-affinity-map-max' },
      { spec: LB_CONFIG_MAP },
      { spec: LB_DEVICES_MAP },
    ].map((s) => ({ ...s, spec: s.spec as unknown as OwnedMapSpec['spec'] })),
  });
  const set: LbMapSet = {
    v4: family(owned, LB4),
    v6: family(owned, LB6),
    affinityMatch: owned.get(AFFINITY_MATCH_MAP),
    config: owned.get(LB_CONFIG_MAP),
    devices: owned.get(LB_DEVICES_MAP),
    all: () => owned.all(),
    flagOf: (name) => owned.flagOf(name),
  };
  try {
    set.config.update({ index: 0 }, { maglev_lut_size: p.config.bpfLbMaglevTableSize });
  } catch (e) {
    owned.close();
    throw e;
  }
  return { set, close: () => owned.close() };
}

/** The maps, opened at the cell's start and closed (pins kept) at its stop. */
export function newLbMaps(p: {
  readonly config: LbConfig;
  /** --bpf-map-dynamic-size-ratio. */
  readonly ratio: number;
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  readonly health: Health;
  readonly wrap: (raw: RawMap) => RawMap;
}): LbMaps {
  let opened: { set: LbMapSet; close: () => void } | undefined;
  p.lifecycle.append(
    {
      onStart: () => {
        opened = openLbMaps(p);
      },
      onStop: () => {
        opened?.close();
        opened = undefined;
      },
    },
    'lb-maps',
  );
  return {
    get open() {
      if (!opened) throw new Error('the load balancer maps are not open: the cell is not running');
      return opened.set;
    },
    get running() {
      return opened !== undefined;
    },
  };
}
