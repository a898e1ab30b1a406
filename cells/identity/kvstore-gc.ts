import type { KVStore } from '../kvstore/index.js';
import {
  GC_LOCK,
  idOfKey,
  ID_PREFIX,
  labelsLock,
  parseValueKey,
  valuePrefix,
  VALUE_PREFIX,
} from './kvstore-keys.js';

/** What a garbage collection round did. */
export interface GcRound {
  /** Ids whose master keys it deleted. */
  readonly deleted: readonly number[];
  /** Ids without any slave key, deleted next round if still unused. */
  readonly unused: readonly number[];
}

/**
 * Deletes identities nobody uses, as Cilium's kvstore allocator GC: a master key with no slave
 * key left (its nodes released it, or their leases expired) in two rounds in a row (the round's
 * interval is the grace period) is deleted, holding the cluster-wide GC lock (one agent
 * collects at a time) and the labels' lock (no allocation of the labels in between), and only
 * while it still holds the same labels (an id re-used meanwhile is kept).
 */
export class IdentityGc {
  /** Master keys unused in the last round, with the label string they held. */
  private stale = new Map<string, string>();

  constructor(private readonly kv: KVStore) {}

  async run(signal?: AbortSignal): Promise<GcRound> {
    const lock = await this.kv.lock(GC_LOCK, signal);
    try {
      const masters = await this.kv.list(ID_PREFIX, signal);
      const used = new Set<string>();
      for (const key of (await this.kv.list(VALUE_PREFIX, signal)).keys()) {
        const v = parseValueKey(key);
        if (v) used.add(v.ls);
      }
      const next = new Map<string, string>();
      const deleted: number[] = [];
      for (const [key, ls] of masters) {
        const id = idOfKey(key);
        if (id === undefined || used.has(ls)) continue;
        if (this.stale.get(key) !== ls) {
          next.set(key, ls);
          continue;
        }
        const labels = await this.kv.lock(labelsLock(ls), signal);
        try {
          const refs = await this.kv.list(valuePrefix(ls), signal);
          if (refs.size === 0 && (await this.kv.deleteIfValue(key, ls, signal))) deleted.push(id);
        } finally {
          await labels.unlock();
        }
      }
      this.stale = next;
      return { deleted, unused: [...next.keys()].map((k) => idOfKey(k) ?? 0) };
    } finally {
      await lock.unlock();
    }
  }
}
