// Maps a feature cell owns (the load balancer's, conntrack's): opened at its start on the agent's
// backend and pin directory, listed by `map list`, closed at its stop with their pins kept.
import {
  openMap,
  type BpfMap,
  type MapRegistry,
  type MapSpec,
  type RawMap,
} from '../../core/bpf/index.js';
import type { Health, Logger } from '../../core/hive/index.js';
import type { DatapathMaps } from './maps.js';

/** One map to open: its spec, its size from a flag, and that flag's name (for messages). */
export interface OwnedMapSpec {
  readonly spec: MapSpec<unknown, unknown>;
  readonly maxEntries?: number;
  readonly innerMaxEntries?: number;
  readonly flag?: string;
}

/** A cell's open maps. */
export interface OwnedMaps {
  /** The open map of a spec. */
  get<K, V>(spec: MapSpec<K, V>): BpfMap<K, V>;
  /** Every map, in the order given. */
  all(): BpfMap<unknown, unknown>[];
  /** The flag that sizes a map, if any. */
  flagOf(name: string): string | undefined;
  /** Closes every map (their pins stay) and takes them off `map list`. */
  close(): void;
}

/**
 * Opens `specs` beside the agent's maps, reusing or migrating their pins (core/bpf/migrate.ts).
 * Each outcome is logged; a pin problem (a size refused, entries kept aside) degrades the map's
 * health scope and names the flag to change. All open or none: a failure closes those opened.
 */
export function openOwnedMaps(p: {
  readonly maps: DatapathMaps;
  readonly registry: MapRegistry;
  readonly logger: Logger;
  readonly health: Health;
  readonly specs: readonly OwnedMapSpec[];
  /** Wraps each map's backend (tests: a FaultyMap). */
  readonly wrap?: (raw: RawMap) => RawMap;
}): OwnedMaps {
  const open = new Map<string, BpfMap<unknown, unknown>>();
  const flags = new Map<string, string>();
  const close = (): void => {
    for (const m of open.values()) {
      p.registry.remove(m.name);
      m.close();
    }
    open.clear();
  };
  try {
    for (const o of p.specs) {
      const name = o.spec.name;
      if (o.flag !== undefined) flags.set(name, o.flag);
      const hint = o.flag === undefined ? '' : ` (sized by --${o.flag})`;
      let problem: string | undefined;
      const m = openMap(o.spec, {
        backend: p.maps.backend,
        pinDir: p.maps.pinDir,
        ...(o.maxEntries === undefined ? {} : { maxEntries: o.maxEntries }),
        ...(o.innerMaxEntries === undefined ? {} : { innerMaxEntries: o.innerMaxEntries }),
        log: (msg, outcome, r) => {
          const fields = { map: name, outcome };
          if (r.problem === undefined) {
            p.logger.info(fields, msg);
            return;
          }
          problem = `${r.problem}${hint}`;
          if (outcome === 'kept-aside') p.logger.error(fields, msg);
          else p.logger.warn(fields, `${msg}${hint}`);
        },
        debug: (msg) => p.logger.debug({ map: name }, msg),
        ...(p.wrap ? { wrap: p.wrap } : {}),
      });
      open.set(name, m);
      p.registry.add(m);
      const health = p.health.scope(name);
      if (problem !== undefined) health.degraded(`${name}: ${problem}`);
      else health.ok(`open, ${m.raw.maxEntries} entries at most${hint}`);
    }
  } catch (e) {
    close();
    throw e;
  }
  return {
    get: <K, V>(spec: MapSpec<K, V>) => {
      const m = open.get(spec.name);
      if (!m) throw new Error(`map ${spec.name} is not open`);
      return m as unknown as BpfMap<K, V>;
    },
    all: () => [...open.values()],
    flagOf: (name) => flags.get(name),
    close,
  };
}
