// Sizes of the maps that grow with traffic (connection tracking, NAT, sockets' reverse NAT) from
// the memory of the node, as Cilium's --bpf-map-dynamic-size-ratio: their static defaults scaled
// by the share of memory the ratio gives them, within Cilium's floors. A size set by its own flag
// (anything but the static default) is taken as it is.
import { totalmem } from 'node:os';

/** A map sized dynamically: its static default, its floor, and the bytes one entry takes. */
export interface DynamicMap {
  readonly defaultEntries: number;
  readonly minEntries: number;
  readonly entryBytes: number;
}

/** Cilium's maps sized by the ratio, with its floors (LimitTableAuto*Min) and entry sizes. */
export const DYNAMIC_MAPS = {
  ctTcp: { defaultEntries: 524288, minEntries: 1 << 17, entryBytes: 14 + 56 },
  ctAny: { defaultEntries: 262144, minEntries: 1 << 16, entryBytes: 14 + 56 },
  nat: { defaultEntries: 524288, minEntries: 1 << 17, entryBytes: 14 + 40 },
  sockRevNat: { defaultEntries: 262144, minEntries: 1 << 16, entryBytes: 16 + 8 },
} as const satisfies Record<string, DynamicMap>;

/** The largest size any of them gets (Cilium's LimitTableMax). */
const MAX_ENTRIES = 1 << 24;

/**
 * The size of map `m` whose flag says `configured`: that, when it is not the static default or
 * the ratio is 0; otherwise the default scaled to `ratio` of the node's memory, within the floor.
 */
export function dynamicMapSize(
  m: DynamicMap,
  configured: number,
  ratio: number,
  memoryBytes = totalmem(),
): number {
  if (ratio <= 0 || configured !== m.defaultEntries) return configured;
  const defaults = Object.values(DYNAMIC_MAPS).reduce(
    (sum, x) => sum + x.defaultEntries * x.entryBytes,
    0,
  );
  const entries = Math.floor((m.defaultEntries * ratio * memoryBytes) / defaults);
  return Math.min(MAX_ENTRIES, Math.max(m.minEntries, entries));
}
