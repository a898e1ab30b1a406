// What a neighbor sent, over its sessions: the adj-RIB-in plus graceful restart as the
// receiving speaker (RFC 4724 §4.2): stale while the peer restarts, dropped at its End-of-RIB
// or when its restart time runs out.
import type { Family, UpdateMsg } from '../wire/types.js';
import type { Negotiated } from './open.js';
import { AdjRibIn } from './rib-in.js';
import type { SpeakerParams } from './types.js';

/** The received routes of one neighbor and their stale timer. */
export class ReceivedRoutes {
  readonly rib = new AdjRibIn();
  private staleTimer?: NodeJS.Timeout;

  constructor(
    private readonly neighbor: string,
    private readonly log: SpeakerParams['log'],
    private readonly changed: () => void,
  ) {}

  /** Applies an UPDATE; an End-of-RIB drops what is still stale in its family. */
  update(
    m: UpdateMsg,
    families: readonly Family[],
    treatAsWithdraw: string | undefined,
    now: number,
  ): void {
    if (treatAsWithdraw !== undefined) {
      this.log.warn(
        { neighbor: this.neighbor, reason: treatAsWithdraw },
        'bgp UPDATE treated as withdraw',
      );
    }
    const eor = this.rib.apply(m, families, treatAsWithdraw !== undefined, now);
    for (const f of eor) {
      const n = this.rib.dropStale(f);
      this.log.info(
        { neighbor: this.neighbor, family: f, staleDropped: n },
        'bgp End-of-RIB received',
      );
    }
    if (eor.length > 0 && !this.rib.hasStale()) this.stopTimer();
    this.changed();
  }

  /**
   * The established session went. Without a NOTIFICATION either way and with graceful restart
   * negotiated, the peer is restarting: keep its routes, stale, for its restart time.
   */
  sessionLost(neg: Negotiated | undefined, notified: boolean): void {
    if (neg?.gracefulRestart && !notified) {
      const n = this.rib.markStale();
      this.log.info(
        { neighbor: this.neighbor, stale: n },
        'bgp peer restarting: routes kept as stale',
      );
      this.arm(neg.peerGr?.restartTimeSec ?? 0, 'peer did not come back within its restart time');
    } else {
      this.stopTimer();
      this.rib.clear();
    }
    this.changed();
  }

  /** The restarted peer is back: keep the stale routes its new OPEN still preserves (F bit). */
  sessionBack(neg: Negotiated): void {
    if (!this.rib.hasStale()) return;
    const kept = new Set(
      (neg.peerGr?.families ?? []).filter((f) => f.forwardingPreserved).map((f) => f.family),
    );
    for (const f of ['ipv4-unicast', 'ipv6-unicast'] as const) {
      if (!neg.gracefulRestart || !kept.has(f)) this.rib.dropStale(f);
    }
    this.arm(neg.peerGr?.restartTimeSec ?? 0, 'stale routes not refreshed in time');
  }

  /** Stops the stale timer (the neighbor is going). */
  stopTimer(): void {
    clearTimeout(this.staleTimer);
    this.staleTimer = undefined;
  }

  private arm(sec: number, why: string): void {
    this.stopTimer();
    this.staleTimer = setTimeout(() => {
      this.staleTimer = undefined;
      const n = this.rib.dropStale();
      this.log.info({ neighbor: this.neighbor, dropped: n }, `bgp ${why}`);
      this.changed();
    }, sec * 1000);
    this.staleTimer.unref();
  }
}
