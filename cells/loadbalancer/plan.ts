// A reconcile round's writes, by phase (backends, slots, reverse NAT, extras, masters, stale
// slots): no phase's entry may point at what a later one writes. Plus the small conversions
// between entries and map keys the operations share.
import { flat } from '../../core/flat.js';
import { BpfError, getInnerMap, type BpfMap, type RawMap } from '../../core/bpf/index.js';
import { PermanentError } from '../../core/reconciler/index.js';
import type { Entry } from './expand.js';
import type { LbMapSet } from './lbmaps.js';
import { SCOPE, type LbBackend, type LbKey, type LbService } from './maps.js';
import { PROTO, type L4Type, type Scope } from './model.js';

/** The order writes go in: no phase's entry may point at what a later phase writes. */
export const BACKENDS = 0;
export const SLOTS = 1;
export const REVNAT = 2;
export const EXTRAS = 3;
export const MASTER = 4;
export const STALE = 5;

/**
 * One write of a plan, and `seen`, which notes what the map holds at its key: the value once
 * the write landed, or (after a batch failed part way) what a lookup finds there.
 */
export interface UpdateOp {
  readonly kind: 'update';
  readonly map: BpfMap<unknown, unknown>;
  readonly key: unknown;
  readonly value: unknown;
  readonly seen?: (v: unknown) => void;
}

export type Op =
  | UpdateOp
  | {
      readonly kind: 'delete';
      readonly map: BpfMap<unknown, unknown>;
      readonly key: unknown;
      readonly done?: () => void;
    }
  | { readonly kind: 'run'; readonly fn: () => void };

/** The writes of one or more frontends, by phase. */
export class Plan {
  readonly phases: Op[][] = [[], [], [], [], [], []];
  /** Backends already planned (two frontends of a batch may share one). */
  readonly backends = new Set<number>();
  readonly frontends: { key: string; want: readonly Entry[]; before: readonly Entry[] }[] = [];

  update<K, V>(
    phase: number,
    map: BpfMap<K, V>,
    key: K,
    value: V,
    seen?: (v: V | undefined) => void,
  ): void {
    this.phases[phase]?.push({
      kind: 'update',
      map: map as unknown as BpfMap<unknown, unknown>,
      key,
      value,
      ...(seen ? { seen: seen as (v: unknown) => void } : {}),
    });
  }

  delete<K, V>(phase: number, map: BpfMap<K, V>, key: K, done?: () => void): void {
    this.phases[phase]?.push({
      kind: 'delete',
      map: map as unknown as BpfMap<unknown, unknown>,
      key,
      ...(done ? { done } : {}),
    });
  }

  run(phase: number, fn: () => void): void {
    this.phases[phase]?.push({ kind: 'run', fn });
  }
}

/** How an entry's key is written in a services key. */
export function lbKey(
  e: { ip: string; port: number; protocol: L4Type; scope: Scope },
  slot: number,
): LbKey {
  return {
    address: e.ip,
    dport: e.port,
    backend_slot: slot,
    proto: PROTO[e.protocol],
    scope: e.scope === 'internal' ? SCOPE.INT : SCOPE.EXT,
  };
}

export function protoName(n: number): L4Type {
  return n === 6 ? 'tcp' : n === 17 ? 'udp' : 'any';
}

export function sameMapEntry(a: LbService | undefined, b: LbService): boolean {
  return (
    a !== undefined &&
    a.backend_id === b.backend_id &&
    a.count === b.count &&
    a.rev_nat_index === b.rev_nat_index &&
    a.flags === b.flags &&
    a.flags2 === b.flags2 &&
    a.qcount === b.qcount
  );
}

export function backendSig(b: LbBackend): string {
  return flat(`${b.address}|${b.port}|${b.proto}|${b.flags}|${b.cluster_id}`);
}

/** A map write that failed because the map is full: a message naming the map, its size and flag. */
export function fullError(e: unknown, m: BpfMap<unknown, unknown>, set: LbMapSet): unknown {
  if (!(e instanceof BpfError) || !e.mapFull) return e;
  const flag = set.flagOf(m.name);
  return new PermanentError(
    `map ${m.name} is full (${m.raw.maxEntries} entries)${flag ? `: raise --${flag}` : ''}`,
  );
}

/** A source range key of a CIDR for a service id. */
export function rangeKey(
  cidr: string,
  id: number,
): { prefixlen: number; rev_nat_id: number; addr: string } {
  const [ip = '', bits = '0'] = cidr.split('/');
  return { prefixlen: 32 + Number(bits), rev_nat_id: id, addr: ip };
}

/** Whether the Maglev table `key` of `outer` already holds `table` (after a restart). */
export function sameTable(outer: RawMap, key: Buffer, table: Uint32Array): boolean {
  const inner = getInnerMap(outer, key);
  if (!inner) return false;
  try {
    if (inner.maxEntries !== table.length) return false;
    // Read in batches (16,381 lookups one by one were a syscall each, per service at restore).
    let n = 0;
    for (const [k, v] of inner.dump()) {
      if (v.readUInt32LE(0) !== table[k.readUInt32LE(0)]) return false;
      n++;
    }
    return n === table.length;
  } finally {
    if (inner.backend === 'kernel') inner.close();
  }
}
