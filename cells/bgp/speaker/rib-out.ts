// The adj-RIB-out of one neighbor: the routes the node wants it to have, what was sent, and
// the UPDATEs that take the peer from one to the other (RFC 4271 §9.2).
import { encodeEndOfRib, packUpdates, packWithdrawals } from '../wire/index.js';
import type { Family, WireContext } from '../wire/types.js';
import { ribRoute } from './rib-route.js';
import { outRoutes, type OutContext, type OutEntry } from './routes.js';
import type { Advertisement, RibRoute } from './types.js';

/** Desired and sent routes of one neighbor. */
export class AdjRibOut {
  private desired = new Map<string, Advertisement>();
  private desiredSet = false;
  private readonly sent = new Map<Family, Map<string, OutEntry>>();

  /** Sets what the neighbor should have (sent by the next diff). */
  setDesired(routes: readonly Advertisement[]): void {
    this.desired = new Map(routes.map((r) => [r.prefix, r]));
    this.desiredSet = true;
  }

  /** Whether the routes were ever set (an empty set included). */
  get hasDesired(): boolean {
    return this.desiredSet;
  }

  /** The session went: the peer has nothing from us. */
  clearSent(): void {
    this.sent.clear();
  }

  /** How many routes of a family were sent. */
  size(f: Family): number {
    return this.sent.get(f)?.size ?? 0;
  }

  /** The sent routes of a family as the API shows them. */
  routes(f: Family, ctx: WireContext): RibRoute[] {
    return [...(this.sent.get(f)?.values() ?? [])].map((e) =>
      ribRoute(f, e.route.prefix, e.route.nextHop, e.route.attrs, ctx, true, false, e.since),
    );
  }

  /**
   * The UPDATEs (announcements, then withdrawals) that take the peer from what was sent to
   * what is desired, per negotiated family; `eor` adds each family's End-of-RIB (a session's
   * first send). What they carry counts as sent from now on.
   */
  diff(out: OutContext, ctx: WireContext, now: number, eor: boolean): Uint8Array[] {
    const want = outRoutes(this.desired.values(), out);
    const msgs: Uint8Array[] = [];
    for (const f of out.families) {
      const cur = this.sent.get(f) ?? new Map<string, OutEntry>();
      const next = want.get(f) ?? new Map<string, OutEntry>();
      const announce = [];
      for (const [p, e] of next) {
        const old = cur.get(p);
        if (old?.key === e.key) next.set(p, old);
        else {
          announce.push(e.route);
          next.set(p, { ...e, since: now });
        }
      }
      const withdraw = [...cur.keys()].filter((p) => !next.has(p));
      if (announce.length > 0) msgs.push(...packUpdates(f, announce, ctx));
      if (withdraw.length > 0) msgs.push(...packWithdrawals(f, withdraw, ctx));
      if (eor) msgs.push(encodeEndOfRib(f));
      this.sent.set(f, next);
    }
    return msgs;
  }

  /** A family's sent routes again, then its End-of-RIB (the peer asked: ROUTE-REFRESH). */
  resend(f: Family, ctx: WireContext): Uint8Array[] {
    const table = [...(this.sent.get(f)?.values() ?? [])].map((e) => e.route);
    return [...packUpdates(f, table, ctx), encodeEndOfRib(f)];
  }
}
