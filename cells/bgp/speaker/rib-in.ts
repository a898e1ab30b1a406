// The adj-RIB-in of one neighbor: what it sent, per family, with the stale marks graceful
// restart (RFC 4724 §4.2) puts on its routes while it restarts.
import type { Family, PathAttrs, UpdateMsg } from '../wire/types.js';

/** A received route. */
export interface InEntry {
  readonly nextHop: string;
  readonly attrs: PathAttrs;
  readonly since: number;
  readonly stale: boolean;
}

/** Per-family received routes of one neighbor. */
export class AdjRibIn {
  private readonly tables = new Map<Family, Map<string, InEntry>>();

  /** The routes of a family, by prefix. */
  table(f: Family): ReadonlyMap<string, InEntry> {
    return this.tables.get(f) ?? new Map<string, InEntry>();
  }

  /** How many routes a family holds. */
  size(f: Family): number {
    return this.tables.get(f)?.size ?? 0;
  }

  /**
   * Applies an UPDATE for the negotiated families; `withdrawAll` (RFC 7606 treat-as-withdraw)
   * makes every announced prefix a withdrawal. Returns the families whose End-of-RIB it is.
   */
  apply(u: UpdateMsg, families: readonly Family[], withdrawAll: boolean, now: number): Family[] {
    const v4 = families.includes('ipv4-unicast') ? this.ensure('ipv4-unicast') : undefined;
    for (const p of u.withdrawn) v4?.delete(p);
    if (v4 && u.nlri.length > 0) {
      const nh = u.attrs?.nextHop;
      for (const p of u.nlri) {
        if (withdrawAll || !u.attrs || nh === undefined) v4.delete(p);
        else this.put(v4, p, nh, u.attrs, now);
      }
    }
    if (u.mpUnreach && families.includes(u.mpUnreach.family)) {
      const t = this.ensure(u.mpUnreach.family);
      for (const p of u.mpUnreach.withdrawn) t.delete(p);
    }
    if (u.mpReach && families.includes(u.mpReach.family)) {
      const t = this.ensure(u.mpReach.family);
      const nh = u.mpReach.nextHops[0];
      for (const p of u.mpReach.nlri) {
        if (withdrawAll || !u.attrs || nh === undefined) t.delete(p);
        else this.put(t, p, nh, u.attrs, now);
      }
    }
    const eor: Family[] = [];
    const empty = u.withdrawn.length === 0 && u.nlri.length === 0 && !u.mpReach;
    if (empty && !u.attrs && !u.mpUnreach) eor.push('ipv4-unicast');
    if (empty && u.mpUnreach?.withdrawn.length === 0) eor.push(u.mpUnreach.family);
    return eor;
  }

  /** Marks every route stale (the peer's session went without a NOTIFICATION). */
  markStale(): number {
    let n = 0;
    for (const t of this.tables.values()) {
      for (const [p, e] of t) {
        t.set(p, { ...e, stale: true });
        n++;
      }
    }
    return n;
  }

  /** Removes the stale routes of a family (all families when none is given); how many went. */
  dropStale(f?: Family): number {
    let n = 0;
    for (const [family, t] of this.tables) {
      if (f !== undefined && family !== f) continue;
      for (const [p, e] of t) {
        if (e.stale) {
          t.delete(p);
          n++;
        }
      }
    }
    return n;
  }

  /** Whether any route is still stale. */
  hasStale(): boolean {
    for (const t of this.tables.values()) for (const e of t.values()) if (e.stale) return true;
    return false;
  }

  /** Forgets everything. */
  clear(): void {
    this.tables.clear();
  }

  private ensure(f: Family): Map<string, InEntry> {
    let t = this.tables.get(f);
    if (!t) this.tables.set(f, (t = new Map<string, InEntry>()));
    return t;
  }

  private put(t: Map<string, InEntry>, p: string, nh: string, attrs: PathAttrs, now: number): void {
    const old = t.get(p);
    // A refreshed route keeps its age: only its stale mark and attributes change.
    t.set(p, { nextHop: nh, attrs, since: old?.since ?? now, stale: false });
  }
}
