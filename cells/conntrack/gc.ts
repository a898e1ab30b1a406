// Garbage collection of the connection tracking maps (Cilium's ctmap GC): entries whose lifetime
// has passed are deleted in batches, then NAT entries whose flow is no longer tracked. The time to
// the next run adapts to how much the last one deleted, as Cilium's: a map that fills with dead
// flows is swept more often, a quiet one less.
import { setImmediate } from 'node:timers/promises';
import type { BpfMap } from '../../core/bpf/index.js';
import { ctEntry, TUPLE_F, type CtTuple, type NatEntry } from './maps.js';
import type { CtFamilyMaps } from './ctmaps.js';

/** Cilium's first interval, its floor and its ceiling for LRU maps. */
export const GC_START_MS = 5 * 60_000;
export const GC_MIN_MS = 10_000;
export const GC_MAX_LRU_MS = 12 * 3_600_000;

/** Seconds of CLOCK_MONOTONIC: the clock the datapath writes lifetimes in. */
export function monotonicSeconds(): number {
  return Number(process.hrtime.bigint() / 1_000_000_000n);
}

/**
 * The interval after a run that deleted `ratio` of a map's capacity (the largest over the maps),
 * given the interval it was expected to wait and how long it really waited (a run triggered
 * early counts its deletions as if it had waited the full interval).
 */
export function nextInterval(p: {
  readonly expectedMs: number;
  readonly actualMs: number;
  readonly ratio: number;
  readonly maxMs: number;
}): number {
  let ratio = p.ratio;
  if (p.actualMs > 0 && p.actualMs < p.expectedMs) ratio *= p.expectedMs / p.actualMs;
  let next = p.expectedMs;
  if (ratio > 0.25) {
    // 25%..90% deleted: 1.3x..10x shorter.
    next = Math.max(Math.round(p.expectedMs * (1 - Math.min(ratio, 0.9))), GC_MIN_MS);
  } else if (ratio > 0 && ratio < 0.05) {
    next = Math.min(Math.round(p.expectedMs * 1.5), GC_MAX_LRU_MS);
  }
  return Math.min(next, p.maxMs);
}

/** What one run did. */
export interface GcRun {
  readonly at: Date;
  readonly ms: number;
  /** Entries seen and deleted per map. */
  readonly maps: readonly { name: string; seen: number; deleted: number; max: number }[];
  /** The largest deleted / max entries over the maps. */
  readonly ratio: number;
}

const LIFETIME = ctEntry.fields.find((f) => f.name === 'lifetime')?.offset ?? 32;

/** Yields to the event loop every few milliseconds of work (big maps never stall the API). */
class Pacer {
  private until = performance.now() + 5;

  async tick(signal: AbortSignal): Promise<void> {
    if (performance.now() < this.until) return;
    await setImmediate();
    if (signal.aborted) throw new Error('stopped');
    this.until = performance.now() + 5;
  }
}

/** Deletes raw keys, in batches where the backend can (a key gone meanwhile is fine). */
function deleteKeys(m: BpfMap<unknown, unknown>, keys: readonly Buffer[]): number {
  if (keys.length === 0) return 0;
  const ks = m.raw.keySize;
  const packed = Buffer.alloc(ks * keys.length);
  keys.forEach((k, i) => k.copy(packed, i * ks));
  try {
    return m.raw.deleteBatch(packed, keys.length);
  } catch {
    // The kernel's batch delete stops at the first key that is gone: one by one instead.
    let n = 0;
    for (const k of keys) if (m.raw.delete(k)) n++;
    return n;
  }
}

/** Deletes the expired entries of one CT map; returns how many it saw and deleted. */
async function sweepCt(
  m: BpfMap<unknown, unknown>,
  now: number,
  signal: AbortSignal,
): Promise<{ seen: number; deleted: number }> {
  const pacer = new Pacer();
  const dead: Buffer[] = [];
  let seen = 0;
  for (const [k, v] of m.raw.dump()) {
    seen++;
    if (v.readUInt32LE(LIFETIME) < now) dead.push(k);
    if ((seen & 1023) === 0) await pacer.tick(signal);
  }
  // The datapath may have reused a tuple since the dump (a new flow on an expired entry): each
  // key is read again just before its batch goes, and only what is still expired is deleted.
  const value = Buffer.alloc(m.raw.valueSize);
  const stillDead = (k: Buffer): boolean =>
    m.raw.lookup(k, value) && value.readUInt32LE(LIFETIME) < now;
  let deleted = 0;
  for (let i = 0; i < dead.length; i += 4096) {
    deleted += deleteKeys(m, dead.slice(i, i + 4096).filter(stillDead));
    await pacer.tick(signal);
  }
  return { seen, deleted };
}

/**
 * The CT key whose entry keeps a NAT entry alive: a TUPLE_F_OUT NAT key is the translated flow
 * as CT tracks it (client → backend); a TUPLE_F_IN key is the reply to the node's address, whose
 * value names the client the flow came from.
 */
export function ctKeyOfNat(k: CtTuple, v: NatEntry): CtTuple {
  if (k.flags !== TUPLE_F.IN) return { ...k, flags: TUPLE_F.OUT };
  return {
    saddr: v.to_saddr,
    sport: v.to_sport,
    daddr: k.saddr,
    dport: k.sport,
    nexthdr: k.nexthdr,
    flags: TUPLE_F.OUT,
  };
}

/** Deletes NAT entries whose flow is tracked by neither CT map any more. */
async function sweepNat(
  f: CtFamilyMaps,
  signal: AbortSignal,
): Promise<{ seen: number; deleted: number }> {
  const pacer = new Pacer();
  const dead: Buffer[] = [];
  let seen = 0;
  const keyBuf = Buffer.alloc(f.nat.raw.keySize);
  const tracked = (ct: CtTuple): boolean =>
    (ct.nexthdr === 6 ? f.tcp : f.any).lookup(ct) !== undefined;
  const cts: CtTuple[] = [];
  for (const [k, v] of f.nat.entries()) {
    seen++;
    const ct = ctKeyOfNat(k, v);
    if (!tracked(ct)) {
      f.nat.spec.key.encode(k, keyBuf);
      dead.push(Buffer.from(keyBuf));
      cts.push(ct);
    }
    if ((seen & 255) === 0) await pacer.tick(signal);
  }
  // A flow tracked again since (its tuple reused) keeps its NAT entry.
  return {
    seen,
    deleted: deleteKeys(
      f.nat,
      dead.filter((_, i) => !tracked(cts[i] as CtTuple)),
    ),
  };
}

/**
 * Deletes every CT entry to or from one of `ips` (an endpoint that is gone: a pod given one of
 * its addresses later inherits none of its flows); returns how many.
 */
export function forgetAddresses(families: readonly CtFamilyMaps[], ips: readonly string[]): number {
  if (ips.length === 0) return 0;
  const gone = new Set(ips);
  let deleted = 0;
  for (const f of families) {
    for (const m of [f.tcp, f.any]) {
      const keys: Buffer[] = [];
      for (const [k] of m.raw.dump()) {
        const t = m.spec.key.decode(k);
        if (gone.has(t.saddr) || gone.has(t.daddr)) keys.push(k);
      }
      deleted += deleteKeys(m, keys);
    }
  }
  return deleted;
}

/** One garbage collection of every map of every family. */
export async function runGc(
  families: readonly CtFamilyMaps[],
  signal: AbortSignal,
  now = monotonicSeconds(),
): Promise<GcRun> {
  const t0 = performance.now();
  const maps: GcRun['maps'][number][] = [];
  for (const f of families) {
    for (const m of [f.tcp, f.any] as BpfMap<unknown, unknown>[]) {
      const r = await sweepCt(m, now, signal);
      maps.push({ name: m.name, ...r, max: m.raw.maxEntries });
    }
    const r = await sweepNat(f, signal);
    maps.push({ name: f.nat.name, ...r, max: f.nat.raw.maxEntries });
  }
  const ratio = Math.max(0, ...maps.map((m) => m.deleted / m.max));
  return { at: new Date(), ms: performance.now() - t0, maps, ratio };
}
