// The conntrack cell's maps at run time: opened at its start beside the agent's (reusing or
// migrating their pins), sized by --bpf-ct-global-*-max and --bpf-nat-global-max, closed at stop
// with their pins kept, so tracked connections survive an agent restart.
import {
  DYNAMIC_MAPS,
  dynamicMapSize,
  type BpfMap,
  type MapRegistry,
} from '../../core/bpf/index.js';
import { token, type Health, type Lifecycle, type Logger } from '../../core/hive/index.js';
import { openOwnedMaps, type DatapathMaps, type OwnedMapSpec } from '../maps/index.js';
import type { CtConfig } from './config.js';
import { CT4, CT6, type CtEntry, type CtFamilySpecs, type CtTuple, type NatEntry } from './maps.js';

/** The open maps of one address family. */
export interface CtFamilyMaps {
  readonly tcp: BpfMap<CtTuple, CtEntry>;
  readonly any: BpfMap<CtTuple, CtEntry>;
  readonly nat: BpfMap<CtTuple, NatEntry>;
}

/** The conntrack maps, open while the cell runs. */
export interface CtMaps {
  /** Both families; throws while the cell is not running. */
  readonly open: {
    readonly v4: CtFamilyMaps;
    readonly v6: CtFamilyMaps;
    all(): BpfMap<unknown, unknown>[];
  };
  /** Every map (what programs that track connections reuse); throws while not running. */
  all(): BpfMap<unknown, unknown>[];
  readonly running: boolean;
}

/** The conntrack maps. */
export const CtMaps = token<CtMaps>('conntrack/CtMaps');

/** Opens the maps at the cell's start and closes them (pins kept) at its stop. */
export function newCtMaps(p: {
  readonly config: CtConfig;
  /** --bpf-map-dynamic-size-ratio. */
  readonly ratio: number;
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
  readonly health: Health;
}): CtMaps {
  let open:
    | {
        v4: CtFamilyMaps;
        v6: CtFamilyMaps;
        all: () => BpfMap<unknown, unknown>[];
        close: () => void;
      }
    | undefined;
  const specs = (f: CtFamilySpecs): OwnedMapSpec[] => [
    {
      spec: f.tcp,
      maxEntries: dynamicMapSize(DYNAMIC_MAPS.ctTcp, p.config.bpfCtGlobalTcpMax, p.ratio),
      flag: 'bpf-ct-global-tcp-max',
    },
    {
      spec: f.any,
      maxEntries: dynamicMapSize(DYNAMIC_MAPS.ctAny, p.config.bpfCtGlobalAnyMax, p.ratio),
      flag: 'bpf-ct-global-any-max',
    },
    {
      spec: f.nat,
      maxEntries: dynamicMapSize(DYNAMIC_MAPS.nat, p.config.bpfNatGlobalMax, p.ratio),
      flag: 'bpf-nat-global-max',
    },
  ];
  p.lifecycle.append(
    {
      onStart: () => {
        const o = openOwnedMaps({ ...p, specs: [...specs(CT4), ...specs(CT6)] });
        const fam = (f: CtFamilySpecs): CtFamilyMaps => ({
          tcp: o.get(f.tcp),
          any: o.get(f.any),
          nat: o.get(f.nat),
        });
        open = { v4: fam(CT4), v6: fam(CT6), all: () => o.all(), close: () => o.close() };
      },
      onStop: () => {
        open?.close();
        open = undefined;
      },
    },
    'ct-maps',
  );
  const opened = () => {
    if (!open) throw new Error('the conntrack maps are not open: the cell is not running');
    return open;
  };
  return {
    get open() {
      return opened();
    },
    all: () => opened().all(),
    get running() {
      return open !== undefined;
    },
  };
}
