// The reconciler's operations: an endpoint's desired entries into its cellium_policy_<id>,
// writing only the difference with what the map holds (read back from the pin the first time in
// a run, so a restart rewrites nothing that is right), then pointing cellium_policy at the map
// for the endpoint's interface. A write that fails half-way is undone: the map keeps what it
// had, never a mix and never nothing.
import { BpfError } from '../../core/bpf/index.js';
import { PermanentError, type Operations } from '../../core/reconciler/index.js';
import { POLICY_F, type PolicyEntry, type PolicyKey, type PolicyMaps } from '../policymap/index.js';
import { entryKey, type MapEntry } from './mapstate.js';
import type { EndpointPolicy } from './table.js';

/** The map key of an entry. */
export function policyKeyOfEntry(e: MapEntry): PolicyKey {
  return {
    prefixlen: e.prefixlen,
    sec_label: e.id,
    egress: e.dir,
    protocol: e.prefixlen > 40 ? e.proto : 0,
    dport: e.prefixlen > 48 ? e.port : 0,
  };
}

/** The map value of an entry. */
export function policyValueOfEntry(e: MapEntry): PolicyEntry {
  const flags =
    (e.deny ? POLICY_F.DENY : 0) |
    (e.prefixlen <= 40 ? POLICY_F.WILDCARD_PROTO : 0) |
    (e.prefixlen <= 48 ? POLICY_F.WILDCARD_DPORT : 0);
  return { proxy_port: 0, flags, auth_type: 0, packets: 0n, bytes: 0n };
}

/** An entry as read from a map. */
export function entryOfMap(k: PolicyKey, v: PolicyEntry): MapEntry {
  return {
    id: k.sec_label,
    dir: k.egress === 1 ? 1 : 0,
    proto: k.protocol,
    port: k.dport,
    prefixlen: k.prefixlen,
    deny: (v.flags & POLICY_F.DENY) !== 0,
  };
}

interface Realized {
  readonly entries: ReadonlyMap<string, MapEntry>;
  readonly ifindex: number;
}

/** What a write changed, to undo it. */
interface Undo {
  readonly written: MapEntry[];
  readonly replaced: MapEntry[];
  readonly deleted: MapEntry[];
}

/** What turns one set of entries into another: entries to write (with what they replace), to delete. */
interface Diff {
  readonly writes: readonly (readonly [MapEntry, MapEntry | undefined])[];
  readonly deletes: readonly MapEntry[];
}

/**
 * The policy reconciler's operations over the policy maps. `forget` removes the conntrack
 * entries of a deleted endpoint's addresses, so a pod given one of them later inherits no flow
 * the old one's policy admitted.
 */
export function policyOps(
  maps: PolicyMaps,
  forget: (ips: readonly string[]) => void = () => undefined,
): Operations<EndpointPolicy> {
  const realized = new Map<number, Realized>();
  // Endpoints of one identity share their entries: one diff serves them all.
  const diffs = new WeakMap<ReadonlyMap<string, MapEntry>, WeakMap<object, Diff>>();
  const diff = (
    before: ReadonlyMap<string, MapEntry>,
    after: ReadonlyMap<string, MapEntry>,
  ): Diff => {
    let byAfter = diffs.get(before);
    const hit = byAfter?.get(after);
    if (hit) return hit;
    const writes: [MapEntry, MapEntry | undefined][] = [];
    const deletes: MapEntry[] = [];
    for (const [k, e] of after) {
      const old = before.get(k);
      if (!old || old.deny !== e.deny) writes.push([e, old]);
    }
    for (const [k, old] of before) if (!after.has(k)) deletes.push(old);
    const d = { writes, deletes };
    if (!byAfter) diffs.set(before, (byAfter = new WeakMap()));
    byAfter.set(after, d);
    return d;
  };

  const current = (id: number): ReadonlyMap<string, MapEntry> => {
    const have = realized.get(id);
    if (have) return have.entries;
    const out = new Map<string, MapEntry>();
    for (const [k, v] of maps.endpointMap(id).entries()) {
      const e = entryOfMap(k, v);
      out.set(entryKey(e), e);
    }
    return out;
  };

  const write = (row: EndpointPolicy, before: ReadonlyMap<string, MapEntry>): void => {
    const m = maps.endpointMap(row.id);
    if (row.entries.size > maps.maxEntries) {
      throw new PermanentError(
        `endpoint ${row.id}: its policy needs ${row.entries.size} entries, ${m.name} holds at most ${maps.maxEntries} (--bpf-policy-map-max): the previous policy stays`,
      );
    }
    const d = diff(before, row.entries);
    const undo: Undo = { written: [], replaced: [], deleted: [] };
    const put = (e: MapEntry, old: MapEntry | undefined): void => {
      m.update(policyKeyOfEntry(e), policyValueOfEntry(e));
      undo.written.push(e);
      if (old) undo.replaced.push(old);
    };
    const drop = (old: MapEntry): void => {
      m.delete(policyKeyOfEntry(old));
      undo.deleted.push(old);
    };
    // Never more open than the old policy or the new one on the way: allows that go first,
    // then the new denies, then the new allows, then the denies that go.
    try {
      for (const old of d.deletes) if (!old.deny) drop(old);
      for (const [e, old] of d.writes) if (e.deny) put(e, old);
      for (const [e, old] of d.writes) if (!e.deny) put(e, old);
      for (const old of d.deletes) if (old.deny) drop(old);
    } catch (e) {
      rollback(row.id, undo);
      if (e instanceof BpfError && e.mapFull) {
        throw new PermanentError(`endpoint ${row.id}: ${m.name} is full: ${e.message}`);
      }
      throw e;
    }
  };

  const rollback = (id: number, u: Undo): void => {
    const m = maps.endpointMap(id);
    try {
      for (const e of u.deleted) m.update(policyKeyOfEntry(e), policyValueOfEntry(e));
      const replaced = new Set(u.replaced.map(entryKey));
      for (const e of u.replaced) m.update(policyKeyOfEntry(e), policyValueOfEntry(e));
      for (const e of u.written) if (!replaced.has(entryKey(e))) m.delete(policyKeyOfEntry(e));
    } catch {
      // The map refuses even the old entries: the next attempt reads it back and starts over.
      realized.delete(id);
    }
  };

  return {
    update: (_, row) => {
      const prev = realized.get(row.id);
      if (prev?.entries !== row.entries) {
        const before = current(row.id);
        write(row, before);
      }
      // Once per endpoint and run (a restart re-points it: the same map, so nothing changes).
      if (row.ifindex !== 0 && prev?.ifindex !== row.ifindex) {
        if (prev && prev.ifindex !== 0 && prev.ifindex !== row.ifindex) maps.detach(prev.ifindex);
        maps.attach(row.ifindex, row.id);
      }
      realized.set(row.id, { entries: row.entries, ifindex: row.ifindex });
    },
    delete: (_, row) => {
      if (row.ifindex !== 0) maps.detach(row.ifindex);
      const prev = realized.get(row.id);
      if (prev && prev.ifindex !== 0 && prev.ifindex !== row.ifindex) maps.detach(prev.ifindex);
      realized.delete(row.id);
      maps.remove(row.id);
      forget(row.ips);
    },
    prune: (_, desired) => {
      const ids = new Set<number>();
      const ifs = new Set<number>();
      for (const row of desired) {
        ids.add(row.id);
        if (row.ifindex !== 0) ifs.add(row.ifindex);
      }
      for (const ifindex of maps.attached()) if (!ifs.has(ifindex)) maps.detach(ifindex);
      for (const id of maps.pinned()) {
        if (ids.has(id)) continue;
        realized.delete(id);
        maps.remove(id);
      }
    },
  };
}
