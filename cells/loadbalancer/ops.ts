// The BPF reconciler's operations on the frontends table (Cilium's BPFOps): a frontend becomes
// one or more entries of the services map (its NodePort addresses, its two scopes), each with
// backend slots, a reverse NAT entry, Maglev table, affinity matches and source ranges.
// Writes go backends first, then slots, then the rest, and the master entry last, so the
// datapath never sees a slot pointing at a missing backend; stale slots and orphaned backends
// go after. What the maps hold is remembered (read back at start), so an entry that is already
// right is never written again.
import { createInnerMap, deleteInnerMap, setInnerMap, type BpfMap } from '../../core/bpf/index.js';
import { flat } from '../../core/flat.js';
import type { OpContext, Operations } from '../../core/reconciler/index.js';
import { expandFrontend, type Entry, type ExpandParams } from './expand.js';
import type { IdAllocator } from './ids.js';
import type { LbFamilyMaps, LbMapSet } from './lbmaps.js';
import { maglevSeeds, maglevTable } from './maglev.js';
import {
  BE_STATE,
  lbMaglevKey,
  SCOPE,
  type LbBackend,
  type LbKey,
  type LbService,
} from './maps.js';
import { addrKey, backendKey, isV6, PROTO, type Frontend, type FrontendBackend } from './model.js';
import {
  BACKENDS,
  backendSig,
  EXTRAS,
  fullError,
  lbKey,
  MASTER,
  Plan,
  protoName,
  rangeKey,
  REVNAT,
  sameMapEntry,
  sameTable,
  SLOTS,
  STALE,
  type Op,
  type UpdateOp,
} from './plan.js';

/** What the operations need besides the maps (and what expanding frontends needs). */
export interface LbOpsParams extends ExpandParams {
  /** The open maps (throws while the cell is not running). */
  readonly maps: () => LbMapSet;
  /** Backend ids, restored from the maps at start. */
  readonly backendIds: IdAllocator;
  readonly maglevTableSize: number;
  readonly maglevSeed: string;
}

/** What is in the maps for one services-map entry (read back at start, then kept). */
interface EntryState {
  /** Created this run and not written yet (nothing of it can be in the maps). */
  fresh: boolean;
  master?: LbService;
  /**
   * What slot n (at index n-1) holds: a backend id with `slotMeta`; minus the id when it holds
   * that backend with other fields (rewritten at the next update); 0 or a hole: nothing.
   * Slots are kept as ids, not values: 10 backends × 10k services are 100k of them.
   */
  slots: number[];
  /** What every slot with a known id holds besides it (count and qcount are 0). */
  slotMeta?: SlotMeta;
  /** The table's backends and weights ('' : none; undefined: not known yet). */
  maglev?: string;
  affinity: Set<number>;
  ranges: Set<string>;
}

/** The fields a service's slots share: its id and flags. */
interface SlotMeta {
  readonly rev: number;
  readonly flags: number;
  readonly flags2: number;
}

function sameMeta(a: SlotMeta | undefined, b: SlotMeta): boolean {
  return a !== undefined && a.rev === b.rev && a.flags === b.flags && a.flags2 === b.flags2;
}

/** The reconciler's operations, and what they keep of the maps. */
export interface LbOps extends Operations<Frontend> {
  /** Updates many frontends at once: their writes batched per map; returns those that failed. */
  updateBatch(ctx: OpContext, fes: readonly Frontend[]): ReadonlyMap<Frontend, unknown>;
  /** Reads the maps: ids to restore, and what each entry holds (to skip identical writes). */
  restore(): { services: number; backends: number };
  /** Map writes and deletes done since start (a restart that changes nothing makes none). */
  readonly writes: number;
}

/** Creates the operations. */
export function newLbOps(p: LbOpsParams): LbOps {
  const seeds = maglevSeeds(p.maglevSeed);
  /** What each services-map entry holds, by entry key. */
  const entries = new Map<string, EntryState>();
  /** What the backends map holds, by backend id. */
  const backends = new Map<number, string>();
  /** Reverse NAT entries held, id → "ip|port". */
  const revNats = new Map<number, string>();
  /** Which entries each frontend wrote, by frontend key. */
  const owned = new Map<string, readonly Entry[]>();
  /** How many slots in the maps point at each backend (what may not be deleted). */
  const refs = new Map<number, number>();
  /** Backends no slot points at any more: deleted once a plan has gone through. */
  const unreferenced = new Set<number>();
  let writes = 0;

  const fam = (ip: string): LbFamilyMaps => (isV6(ip) ? p.maps().v6 : p.maps().v4);

  const remove = <K, V>(m: BpfMap<K, V>, k: K): void => {
    if (m.delete(k)) writes++;
  };

  /** The services-map entries a frontend wants now. */
  const expand = (fe: Frontend): Entry[] => expandFrontend(fe, p);

  const stateOf = (key: string): EntryState => {
    let s = entries.get(key);
    if (!s) {
      s = { fresh: true, slots: [], affinity: new Set(), ranges: new Set() };
      entries.set(key, s);
    }
    return s;
  };

  const ref = (id: number): void => {
    refs.set(id, (refs.get(id) ?? 0) + 1);
    unreferenced.delete(id);
  };
  const unref = (id: number): void => {
    const n = (refs.get(id) ?? 0) - 1;
    if (n > 0) refs.set(id, n);
    else {
      refs.delete(id);
      unreferenced.add(id);
    }
  };

  /**
   * Notes what slot `i` of `s` holds now (`v`; undefined: nothing) and counts its backend.
   * `ours`: written by this agent as it wants the slot, so its fields become the entry's
   * `slotMeta` (the other slots, written with the old fields, are then rewritten).
   */
  const noteSlot = (s: EntryState, i: number, v: LbService | undefined, ours: boolean): void => {
    const old = s.slots[i];
    if (old) unref(Math.abs(old));
    if (!v) {
      s.slots[i] = 0;
      return;
    }
    const meta: SlotMeta = { rev: v.rev_nat_index, flags: v.flags, flags2: v.flags2 };
    const plain = v.count === 0 && v.qcount === 0;
    if (plain && (ours || !s.slotMeta) && !sameMeta(s.slotMeta, meta)) {
      for (let j = 0; j < s.slots.length; j++) {
        const x = s.slots[j];
        if (x !== undefined && x > 0) s.slots[j] = -x;
      }
      s.slotMeta = meta;
    }
    s.slots[i] = plain && sameMeta(s.slotMeta, meta) ? v.backend_id : -v.backend_id;
    ref(v.backend_id);
  };

  const planBackend = (b: FrontendBackend, plan: Plan): void => {
    if (plan.backends.has(b.id)) return;
    plan.backends.add(b.id);
    const value: LbBackend = {
      address: b.ip,
      port: b.port,
      proto: PROTO[b.protocol],
      flags: BE_STATE[b.state],
      cluster_id: 0,
    };
    const sig = backendSig(value);
    if (backends.get(b.id) === sig) return;
    plan.update(BACKENDS, fam(b.ip).backends, { backend_id: b.id }, value, (v) => {
      if (!v) {
        backends.delete(b.id);
        return;
      }
      backends.set(b.id, backendSig(v));
      // Until a slot points at it (its plan may stop before): deleted unless one does.
      if (!refs.has(b.id)) unreferenced.add(b.id);
    });
  };

  const writeMaglev = (e: Entry, s: EntryState): void => {
    const m = fam(e.ip).maglev;
    const key = Buffer.alloc(lbMaglevKey.size);
    lbMaglevKey.encode({ rev_nat_id: e.id }, key);
    if (!e.maglev) {
      // '' : known to have no table; undefined: unknown (a table of an earlier run may be there).
      if (s.maglev !== '' && deleteInnerMap(m.raw, key)) writes++;
      s.maglev = '';
      return;
    }
    const bes = e.backends
      .filter((b) => b.state === 'active')
      .map((b) => ({ id: b.id, name: b.key, weight: b.weight }));
    const sig = bes.map((b) => `${b.id}:${b.weight}`).join(',');
    if (s.maglev === sig) return;
    const table = maglevTable(bes, p.maglevTableSize, seeds);
    if ((s.maglev === undefined || s.fresh) && sameTable(m.raw, key, table)) {
      s.maglev = sig;
      return;
    }
    const inner = createInnerMap(m.raw, `${m.name}_${e.id}`);
    try {
      const keys = Buffer.alloc(4 * table.length);
      for (let i = 0; i < table.length; i++) keys.writeUInt32LE(i, i * 4);
      inner.updateBatch(
        keys,
        Buffer.from(table.buffer, table.byteOffset, table.byteLength),
        table.length,
        'any',
      );
      try {
        setInnerMap(m.raw, key, inner);
      } catch (err) {
        throw fullError(err, m, p.maps());
      }
      writes++;
    } finally {
      if (inner.backend === 'kernel') inner.close();
    }
    s.maglev = sig;
  };

  /** What writing an entry takes, phase by phase, with what the maps hold after each write. */
  const planEntry = (e: Entry, plan: Plan): void => {
    const m = fam(e.ip);
    const s = stateOf(e.key);
    // Backends first: a slot never points at a backend the datapath cannot find.
    for (const b of e.backends) planBackend(b, plan);
    const meta: SlotMeta = { rev: e.id, flags: e.flags, flags2: e.flags2 };
    const current = sameMeta(s.slotMeta, meta);
    e.backends.forEach((b, i) => {
      if (current && s.slots[i] === b.id) return;
      const v: LbService = {
        backend_id: b.id,
        count: 0,
        rev_nat_index: e.id,
        flags: e.flags,
        flags2: e.flags2,
        qcount: 0,
      };
      plan.update(SLOTS, m.services, lbKey(e, i + 1), v, (now) => {
        noteSlot(s, i, now, true);
      });
    });
    const rev = flat(`${e.ip}|${e.port}`);
    if (revNats.get(e.id) !== rev) {
      plan.update(
        REVNAT,
        m.revNat,
        { rev_nat_index: e.id },
        { address: e.ip, port: e.port },
        (v) => {
          if (v) revNats.set(e.id, flat(`${v.address}|${v.port}`));
          else revNats.delete(e.id);
        },
      );
    }
    plan.run(EXTRAS, () => {
      writeMaglev(e, s);
    });
    const match = p.maps().affinityMatch;
    const wantAffinity = new Set(
      e.affinity ? e.backends.filter((b) => b.state === 'active').map((b) => b.id) : [],
    );
    for (const id of wantAffinity) {
      if (s.affinity.has(id)) continue;
      plan.update(EXTRAS, match, { backend_id: id, rev_nat_id: e.id }, {}, (v) => {
        if (v) s.affinity.add(id);
        else s.affinity.delete(id);
      });
    }
    for (const id of s.affinity) {
      if (wantAffinity.has(id)) continue;
      plan.delete(EXTRAS, match, { backend_id: id, rev_nat_id: e.id }, () => {
        s.affinity.delete(id);
      });
    }
    const wantRanges = new Set(e.sourceRanges);
    for (const cidr of wantRanges) {
      if (s.ranges.has(cidr)) continue;
      plan.update(EXTRAS, m.sourceRange, rangeKey(cidr, e.id), {}, (v) => {
        if (v) s.ranges.add(cidr);
        else s.ranges.delete(cidr);
      });
    }
    for (const cidr of s.ranges) {
      if (wantRanges.has(cidr)) continue;
      plan.delete(EXTRAS, m.sourceRange, rangeKey(cidr, e.id), () => {
        s.ranges.delete(cidr);
      });
    }
    const master: LbService = {
      backend_id: e.algorithmAndTimeout,
      count: e.active,
      rev_nat_index: e.id,
      flags: e.flags,
      flags2: e.flags2,
      qcount: e.backends.length - e.active,
    };
    if (!sameMapEntry(s.master, master)) {
      plan.update(MASTER, m.services, lbKey(e, 0), master, (v) => {
        if (v) {
          s.master = v;
          s.fresh = false;
        } else delete s.master;
      });
    }
    // Slots beyond the backends now (the master no longer counts them).
    for (let slot = s.slots.length; slot > e.backends.length; slot--) {
      plan.delete(STALE, m.services, lbKey(e, slot), () => {
        noteSlot(s, slot - 1, undefined, true);
      });
    }
    plan.run(STALE, () => {
      s.slots.length = e.backends.length;
    });
  };

  /** What updating a frontend takes: its entries, the ones it no longer wants, its backends. */
  const planFrontend = (fe: Frontend, plan: Plan): void => {
    const want = expand(fe);
    const before = owned.get(fe.key) ?? [];
    for (const e of want) planEntry(e, plan);
    const keys = new Set(want.map((e) => e.key));
    plan.run(STALE, () => {
      for (const e of before) if (!keys.has(e.key)) deleteEntry(e, e.key === fe.key);
    });
    plan.frontends.push({ key: fe.key, want, before });
  };

  /**
   * Carries out a plan: each phase's writes in batches per map (one syscall per few thousand
   * entries), what the maps hold noted after each batch; then the references of the frontends
   * it updated, and the backends no entry uses any more deleted.
   */
  const execute = (plan: Plan): void => {
    for (const ops of plan.phases) {
      let i = 0;
      while (i < ops.length) {
        const op = ops[i] as Op;
        if (op.kind === 'update') {
          let j = i;
          while (j < ops.length) {
            const o = ops[j] as Op;
            if (o.kind !== 'update' || o.map !== op.map) break;
            j++;
          }
          const batch = ops.slice(i, j) as UpdateOp[];
          try {
            op.map.updateBatch(batch.map((o) => [o.key, o.value] as const));
          } catch (e) {
            // The writes before the one refused landed: what each key holds now is read back.
            for (const o of batch) o.seen?.(lookupQuiet(o.map, o.key));
            throw fullError(e, op.map, p.maps());
          }
          writes += batch.length;
          for (const o of batch) o.seen?.(o.value);
          i = j;
          continue;
        }
        if (op.kind === 'delete') {
          if (op.map.delete(op.key)) writes++;
          op.done?.();
        } else op.fn();
        i++;
      }
    }
    for (const f of plan.frontends) owned.set(f.key, f.want);
    dropUnreferenced();
  };

  /** Removes an entry a frontend no longer wants (or whose frontend is gone). */
  const deleteEntry = (e: Entry, keepId: boolean): void => {
    const m = fam(e.ip);
    const s = entries.get(e.key) ?? {
      fresh: true,
      slots: [],
      affinity: new Set<number>(),
      ranges: new Set<string>(),
    };
    remove(m.services, lbKey(e, 0));
    for (let slot = Math.max(s.slots.length, e.backends.length); slot >= 1; slot--) {
      remove(m.services, lbKey(e, slot));
      const held = s.slots[slot - 1];
      if (held) unref(Math.abs(held));
    }
    const key = Buffer.alloc(lbMaglevKey.size);
    lbMaglevKey.encode({ rev_nat_id: e.id }, key);
    if (deleteInnerMap(m.maglev.raw, key)) writes++;
    for (const id of s.affinity)
      remove(p.maps().affinityMatch, { backend_id: id, rev_nat_id: e.id });
    for (const b of e.backends)
      remove(p.maps().affinityMatch, { backend_id: b.id, rev_nat_id: e.id });
    for (const cidr of new Set([...s.ranges, ...e.sourceRanges])) {
      remove(m.sourceRange, rangeKey(cidr, e.id));
    }
    remove(m.revNat, { rev_nat_index: e.id });
    revNats.delete(e.id);
    entries.delete(e.key);
    if (!keepId) p.serviceIds.release(e.key);
  };

  /**
   * Deletes the backends no slot points at any more. Only after a plan went through: a Maglev
   * table it did not get to replace may still name them.
   */
  const dropUnreferenced = (): void => {
    for (const id of unreferenced) {
      if (refs.has(id)) continue;
      const ip = ipOfBackend(id);
      const maps = ip === undefined ? [p.maps().v4, p.maps().v6] : [fam(ip)];
      for (const m of maps) remove(m.backends, { backend_id: id });
      backends.delete(id);
    }
    unreferenced.clear();
  };

  const ipOfBackend = (id: number): string | undefined => {
    const sig = backends.get(id);
    return sig?.split('|')[0];
  };

  return {
    get writes() {
      return writes;
    },

    restore() {
      entries.clear();
      backends.clear();
      revNats.clear();
      refs.clear();
      unreferenced.clear();
      let nServices = 0;
      for (const m of [p.maps().v4, p.maps().v6]) {
        for (const [k, v] of m.services.entries()) {
          const key = addrKey({
            ip: k.address,
            port: k.dport,
            protocol: protoName(k.proto),
            scope: k.scope === SCOPE.INT ? 'internal' : 'external',
          });
          const s = stateOf(key);
          s.fresh = false;
          if (k.backend_slot === 0) {
            s.master = v;
            p.serviceIds.restore(key, v.rev_nat_index);
            nServices++;
          } else noteSlot(s, k.backend_slot - 1, v, false);
        }
        for (const [k, v] of m.backends.entries()) {
          backends.set(k.backend_id, backendSig(v));
          p.backendIds.restore(backendKey(v.address, v.port, protoName(v.proto)), k.backend_id);
        }
        for (const [k, v] of m.revNat.entries()) {
          revNats.set(k.rev_nat_index, flat(`${v.address}|${v.port}`));
        }
      }
      const byRev = entriesByRev();
      for (const m of [p.maps().v4, p.maps().v6]) {
        for (const k of m.sourceRange.keys()) {
          byRev.get(k.rev_nat_id)?.ranges.add(`${k.addr}/${k.prefixlen - 32}`);
        }
      }
      for (const k of p.maps().affinityMatch.keys()) {
        byRev.get(k.rev_nat_id)?.affinity.add(k.backend_id);
      }
      return { services: nServices, backends: backends.size };
    },

    update(_, fe) {
      const plan = new Plan();
      planFrontend(fe, plan);
      execute(plan);
    },

    updateBatch(_ctx, fes) {
      const plan = new Plan();
      for (const fe of fes) planFrontend(fe, plan);
      try {
        execute(plan);
        return new Map();
      } catch {
        // Which frontend failed is not known from a batch: each one again on its own (writes are
        // idempotent, and what landed is noted), to fail only those that fail.
        const failed = new Map<Frontend, unknown>();
        for (const fe of fes) {
          try {
            const one = new Plan();
            planFrontend(fe, one);
            execute(one);
          } catch (e) {
            failed.set(fe, e);
          }
        }
        return failed;
      }
    },

    delete(_, fe) {
      // A frontend never updated this run: its entries as it would have them (restored ones).
      const had = owned.get(fe.key) ?? expandQuiet(fe);
      for (const e of had) deleteEntry(e, e.key === fe.key);
      owned.delete(fe.key);
      // Its backends no slot points at (written before a refused slot, say) go too.
      for (const e of had) for (const b of e.backends) if (!refs.has(b.id)) unreferenced.add(b.id);
      dropUnreferenced();
    },

    prune(_, desired) {
      const keep = new Set<string>();
      const keepIds = new Set<number>();
      const keepBackends = new Set<number>();
      const byRev = entriesByRev();
      for (const fe of desired) {
        // One that has not gone through yet (since a restart) keeps what it would write.
        for (const e of owned.get(fe.key) ?? expandQuiet(fe)) {
          keep.add(e.key);
          keepIds.add(e.id);
          for (const b of e.backends) keepBackends.add(b.id);
        }
        for (const b of fe.backends) keepBackends.add(b.id);
        keep.add(fe.key);
        keepIds.add(fe.id);
      }
      for (const m of [p.maps().v4, p.maps().v6]) {
        const stale: LbKey[] = [];
        for (const k of m.services.keys()) {
          const key = addrKey({
            ip: k.address,
            port: k.dport,
            protocol: protoName(k.proto),
            scope: k.scope === SCOPE.INT ? 'internal' : 'external',
          });
          const s = entries.get(key);
          if (
            !keep.has(key) ||
            (k.backend_slot > 0 && s && k.backend_slot > s.slots.length && s.master)
          ) {
            stale.push(k);
            const held = s?.slots[k.backend_slot - 1];
            if (k.backend_slot > 0 && s && held) {
              unref(Math.abs(held));
              s.slots[k.backend_slot - 1] = 0;
            }
          }
        }
        for (const k of stale) remove(m.services, k);
        for (const k of [...m.backends.keys()]) {
          if (!keepBackends.has(k.backend_id) && !refs.has(k.backend_id)) {
            remove(m.backends, k);
            backends.delete(k.backend_id);
          }
        }
        for (const k of [...m.revNat.keys()]) {
          if (!keepIds.has(k.rev_nat_index)) {
            remove(m.revNat, k);
            revNats.delete(k.rev_nat_index);
          }
        }
        for (const [k] of [...m.maglev.entries()]) {
          if (!keepIds.has(k.rev_nat_id)) {
            const key = Buffer.alloc(lbMaglevKey.size);
            lbMaglevKey.encode(k, key);
            if (deleteInnerMap(m.maglev.raw, key)) writes++;
          }
        }
        for (const k of [...m.sourceRange.keys()]) {
          const s = byRev.get(k.rev_nat_id);
          if (!keepIds.has(k.rev_nat_id) || !s?.ranges.has(`${k.addr}/${k.prefixlen - 32}`)) {
            remove(m.sourceRange, k);
          }
        }
      }
      for (const k of [...p.maps().affinityMatch.keys()]) {
        const s = byRev.get(k.rev_nat_id);
        if (!keepIds.has(k.rev_nat_id) || !s?.affinity.has(k.backend_id)) {
          remove(p.maps().affinityMatch, k);
        }
      }
      for (const [key, s] of [...entries]) {
        if (keep.has(key)) continue;
        for (const held of s.slots) if (held) unref(Math.abs(held));
        entries.delete(key);
      }
      unreferenced.clear();
      // Ids read back from the maps that no frontend took again are free from now on.
      p.serviceIds.forgetRestored();
      p.backendIds.forgetRestored();
    },
  };

  /** The entries held, by service id. */
  function entriesByRev(): Map<number, EntryState> {
    const out = new Map<number, EntryState>();
    for (const s of entries.values()) if (s.master) out.set(s.master.rev_nat_index, s);
    return out;
  }

  /** What `m` holds at `k`, or undefined (also when the lookup itself fails). */
  function lookupQuiet(m: BpfMap<unknown, unknown>, k: unknown): unknown {
    try {
      return m.lookup(k);
    } catch {
      return undefined;
    }
  }

  /** The entries of a frontend this run never wrote (deleted before its first update). */
  function expandQuiet(fe: Frontend): Entry[] {
    try {
      return expand(fe);
    } catch {
      return [];
    }
  }
}
