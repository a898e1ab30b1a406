// One neighbor's session: the RFC 4271 FSM over its connections (at most one each way while a
// collision is resolved, §6.8), connect-retry, the adj-RIBs, route refresh and graceful restart.
import { connect, type Socket } from 'node:net';
import { decodeMessage, encodeKeepalive, encodeOpen } from '../wire/index.js';
import { ERR, FAMILY_CODES, type Family, type Message, type WireContext } from '../wire/types.js';
import { Connection, OPEN_HOLD_SEC, type ConnEvents } from './connection.js';
import { buildOpen, checkOpen, compareBgpId, type Negotiated } from './open.js';
import { ReceivedRoutes } from './received.js';
import { retryDelayMs } from './retry.js';
import { AdjRibOut } from './rib-out.js';
import { plainAddress } from './routes.js';
import { ribRoute } from './rib-route.js';
import type {
  Advertisement,
  NeighborConfig,
  PeerStatus,
  RibRoute,
  SessionState,
  SpeakerParams,
} from './types.js';

/** What a neighbor needs from its speaker. */
export interface NeighborEnv {
  readonly routerId: string;
  /**
   * Whether OPENs carry the graceful restart R bit: the agent restarted and this neighbor (by
   * address, across reconfigurations) has had no session in this process yet.
   */
  readonly restarting: () => boolean;
  /** The neighbor reached Established (no R bit from now on). */
  readonly established: () => void;
  readonly log: SpeakerParams['log'];
  readonly now: () => number;
  /** A state or RIB changed. */
  readonly changed: () => void;
  /** Sets the TTL of a session's packets (best effort). */
  readonly setTtl: (s: Socket, ttl: number) => void;
}

/** A NOTIFICATION's code, subcode and data. */
interface Notify {
  readonly code: number;
  readonly subcode: number;
  readonly data?: Uint8Array;
}

const ORDER: Record<string, number> = { connect: 0, opensent: 1, openconfirm: 2 };

/**
 * The most routes a neighbor may send (all families) when its configuration sets no
 * `maxPrefixes`: nothing learned is used, so the adj-RIB-in is only kept for the API, and a
 * peer leaking a full table must not take the agent's memory.
 */
export const DEFAULT_MAX_PREFIXES = 100_000;

/** The session with one configured neighbor. */
export class Neighbor implements ConnEvents {
  private wait: 'idle' | 'connect' | 'active' = 'idle';
  private shown: SessionState = 'idle';
  private readonly conns = new Map<Connection, Negotiated | undefined>();
  private est?: Connection;
  private attempt = 0;
  private retry?: NodeJS.Timeout;
  private readonly out = new AdjRibOut();
  private readonly received: ReceivedRoutes;
  private flushTick?: NodeJS.Immediate;
  private flushWanted = false;
  /**
   * The session came up after a restart before the routes were set: its End-of-RIB waits for
   * them (RFC 4724 §4.1), since the peer drops every stale route of ours not re-sent by then.
   */
  private eorPending = false;
  /** Connections whose OPEN carried the graceful restart R bit. */
  private readonly restartOpens = new WeakSet<Connection>();
  /** ROUTE-REFRESHes that arrived while the socket was backed up: answered once, on drain. */
  private readonly refreshWanted = new Set<Family>();
  private stopped = false;
  private establishedAt?: number;
  private lastError?: string;
  private peerId?: string;
  /**
   * After the peer overran maxPrefixes: until when (env.now) no new session is made, either
   * way (the peer's connections get Cease 5), so it cannot flood again at once.
   */
  private holdOffUntil = 0;

  constructor(
    readonly cfg: NeighborConfig,
    private readonly env: NeighborEnv,
  ) {
    this.received = new ReceivedRoutes(cfg.address, env.log, env.changed);
  }

  /** Starts the session: connects out now, or waits for the peer when passive. */
  start(): void {
    if (this.cfg.passive) this.setWait('active', 'passive: waiting for the peer');
    else this.connectOut();
  }

  /** Takes a connection the peer opened to the listener. */
  accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.env.now() < this.holdOffUntil) {
      // RFC 4486 Cease 5, connection rejected.
      void new Connection(socket, false, this).close({ code: ERR.CEASE, subcode: 5 });
      return;
    }
    const est = this.est;
    if (est) {
      const neg = this.conns.get(est);
      if (neg?.gracefulRestart) {
        // RFC 4724 §4.2: a new connection while established means the peer restarted.
        void est.close();
        this.down(est, 'peer reconnected: graceful restart', false);
      } else {
        void new Connection(socket, false, this).close({ code: ERR.CEASE, subcode: 7 });
        return;
      }
    }
    for (const c of this.conns.keys()) {
      // The peer gave up on its earlier connection: only the newest one of a direction counts.
      if (!c.outbound) {
        void c.close();
        this.conns.delete(c);
      }
    }
    const c = new Connection(socket, false, this);
    this.conns.set(c, undefined);
    this.opened(c);
  }

  /** Sets the routes this neighbor should have; sent (as a difference) on the next tick. */
  setAdvertisements(routes: readonly Advertisement[]): void {
    this.out.setDesired(routes);
    this.flushWanted = true;
    this.flushTick ??= setImmediate(() => {
      this.flushTick = undefined;
      this.flush(false);
    });
  }

  /** Ends the session: without NOTIFICATION when `graceful` and GR was negotiated. */
  async stop(notify: Notify, graceful: boolean): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.received.stopTimer();
    if (this.flushTick) clearImmediate(this.flushTick);
    const closing: Promise<void>[] = [];
    for (const [c, neg] of this.conns) {
      const silent = c.state === 'connect' || (graceful && neg?.gracefulRestart === true);
      closing.push(c.close(silent ? undefined : notify));
    }
    this.conns.clear();
    this.est = undefined;
    this.establishedAt = undefined;
    this.eorPending = false;
    this.out.clearSent();
    this.wait = 'idle';
    this.refresh(`stopped (${graceful ? 'graceful' : `cease ${notify.subcode}`})`);
    await Promise.all(closing);
  }

  /** The session as the API shows it. */
  status(): PeerStatus {
    const neg = this.est ? this.conns.get(this.est) : undefined;
    return {
      config: this.cfg,
      state: this.shown,
      ...(this.establishedAt !== undefined && { establishedAt: this.establishedAt }),
      appliedHoldTimeSec: neg?.holdSec ?? 0,
      appliedKeepaliveSec: neg?.keepaliveSec ?? 0,
      families: (neg?.families ?? []).map((family) => ({
        family,
        received: this.received.rib.size(family),
        accepted: 0, // as Cilium: the import policy rejects everything learned
        advertised: this.out.size(family),
      })),
      gracefulRestartNegotiated: neg?.gracefulRestart ?? false,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      ...(this.peerId !== undefined && { peerRouterId: this.peerId }),
    };
  }

  /** What was sent in a family (adj-RIB-out). */
  ribOut(f: Family): RibRoute[] {
    return this.out.routes(f, this.wireCtx(this.est));
  }

  /** What the neighbor sent in a family (adj-RIB-in). */
  ribInRoutes(f: Family): RibRoute[] {
    const ctx = this.wireCtx(this.est);
    return [...this.received.rib.table(f)].map(([p, e]) =>
      ribRoute(f, p, e.nextHop, e.attrs, ctx, false, e.stale, e.since),
    );
  }

  // ---- connection events ----

  /** A message arrived on one of the connections. */
  message(c: Connection, type: number, body: Uint8Array): void {
    c.restartHold();
    const d = decodeMessage(type, body, this.wireCtx(c));
    if (!d.ok) {
      this.fail(
        c,
        d.error,
        `sent NOTIFICATION ${d.error.code}/${d.error.subcode}: ${d.error.reason}`,
      );
      return;
    }
    if (d.discarded?.length) {
      this.env.log.debug(
        { neighbor: this.cfg.address, discarded: d.discarded },
        'bgp attributes discarded',
      );
    }
    const m = d.msg;
    if (m.type === 'notification') {
      void c.close();
      this.down(c, `received NOTIFICATION ${m.code}/${m.subcode}`, true);
      return;
    }
    if (c.state === 'opensent') {
      if (m.type === 'open') this.onOpen(c, m);
      else this.unexpected(c, m, 1);
    } else if (c.state === 'openconfirm') {
      if (m.type === 'keepalive') this.established(c);
      else this.unexpected(c, m, 2);
    } else if (c.state === 'established') {
      if (m.type === 'update') this.onUpdate(c, m, d.treatAsWithdraw);
      else if (m.type === 'route-refresh') this.onRefresh(c, m.family, m.subtype);
      else if (m.type === 'open') this.unexpected(c, m, 3);
    }
  }

  /** The byte stream broke the framing rules. */
  frameError(c: Connection, e: Notify & { reason: string }): void {
    this.fail(c, e, `sent NOTIFICATION ${e.code}/${e.subcode}: ${e.reason}`);
  }

  /** The connection went (peer closed it, reset, connect failed). */
  lost(c: Connection, reason: string): void {
    this.down(c, reason, false);
  }

  /** No message within the hold time. */
  holdExpired(c: Connection): void {
    this.fail(c, { code: ERR.HOLD_TIMER_EXPIRED, subcode: 0 }, 'hold timer expired');
  }

  /** The socket took everything queued: changes held back meanwhile go now. */
  drained(c: Connection): void {
    if (c !== this.est) return;
    if (this.refreshWanted.size > 0) {
      const fams = [...this.refreshWanted];
      this.refreshWanted.clear();
      for (const f of fams) this.resend(c, f);
      if (!c.idle) return;
    }
    if (this.flushWanted) this.flush(false);
  }

  // ---- the FSM ----

  private connectOut(): void {
    if (this.stopped) return;
    const { address, port, localAddress } = this.cfg;
    const socket = connect({ host: address, port, ...(localAddress && { localAddress }) });
    const c = new Connection(socket, true, this);
    this.conns.set(c, undefined);
    this.setWait('connect', `connecting to ${address}:${port}`);
    // A SYN into a black hole is retried by the kernel for minutes: give up at ConnectRetryTime.
    const timeout = setTimeout(() => {
      if (c.closed || c.state !== 'connect') return;
      void c.close();
      this.down(c, `connect to ${address}:${port} timed out`, false);
    }, this.cfg.connectRetrySec * 1000);
    timeout.unref();
    socket.once('close', () => clearTimeout(timeout));
    socket.once('connect', () => {
      clearTimeout(timeout);
      if (!c.closed) this.opened(c);
    });
  }

  /** TCP is up: send OPEN and wait for the peer's (OpenSent). */
  private opened(c: Connection): void {
    this.env.setTtl(
      c.socket,
      this.cfg.peerAsn === this.cfg.localAsn ? 255 : this.cfg.ebgpMultihopTtl,
    );
    c.state = 'opensent';
    const restarting = this.env.restarting();
    if (restarting) this.restartOpens.add(c);
    c.send(encodeOpen(buildOpen(this.cfg, this.env.routerId, restarting)));
    c.startHold(OPEN_HOLD_SEC);
    this.refresh(
      c.outbound ? 'connected' : `accepted from ${plainAddress(c.socket.remoteAddress)}`,
    );
  }

  private onOpen(c: Connection, m: Extract<Message, { type: 'open' }>): void {
    const r = checkOpen(m, this.cfg, this.env.routerId);
    if (!r.ok) {
      this.fail(
        c,
        r.error,
        `sent NOTIFICATION ${r.error.code}/${r.error.subcode}: ${r.error.reason}`,
      );
      return;
    }
    const neg = r.neg;
    this.conns.set(c, neg);
    if (!this.resolveCollision(c, neg)) return;
    c.state = 'openconfirm';
    c.send(encodeKeepalive());
    c.startHold(neg.holdSec);
    c.startKeepalive(neg.keepaliveSec);
    this.refresh(`OPEN received from ${neg.peerId}`);
  }

  /**
   * §6.8 with the peer's identifier known from this OPEN (the "MAY" of OpenSent too, so both
   * sides decide alike whatever the timing): the higher identifier's connection stays.
   * Returns whether `c` survived.
   */
  private resolveCollision(c: Connection, neg: Negotiated): boolean {
    for (const o of [...this.conns.keys()]) {
      if (o === c) continue;
      if (o.state === 'connect') {
        // Our SYN is still unanswered (dropped, filtered): no collision, the peer's OPEN wins.
        // Resolving by identifier here would refuse every connection of a lower-id peer that
        // can reach us while we cannot reach it.
        void o.close();
        this.conns.delete(o);
        continue;
      }
      if (o === this.est || o.outbound === c.outbound) {
        this.fail(c, { code: ERR.CEASE, subcode: 7 }, 'connection collision: already established');
        return false;
      }
      const keepOutbound = compareBgpId(this.env.routerId, neg.peerId) > 0;
      const loser = o.outbound === keepOutbound ? c : o;
      this.fail(loser, { code: ERR.CEASE, subcode: 7 }, 'connection collision resolution');
      if (loser === c) return false;
    }
    return true;
  }

  private established(c: Connection): void {
    const neg = this.conns.get(c);
    if (!neg) return;
    this.est = c;
    c.state = 'established';
    this.attempt = 0;
    this.env.established();
    this.establishedAt = this.env.now();
    this.peerId = neg.peerId;
    this.lastError = undefined;
    this.refreshWanted.clear();
    clearTimeout(this.retry);
    this.received.sessionBack(neg);
    this.refresh('KEEPALIVE received');
    this.out.clearSent();
    // Restarting with no routes set yet: an End-of-RIB now would make the peer drop them all.
    if (this.restartOpens.has(c) && !this.out.hasDesired) this.eorPending = true;
    else this.flush(true);
  }

  private onUpdate(c: Connection, m: Extract<Message, { type: 'update' }>, taw?: string): void {
    const neg = this.conns.get(c);
    if (!neg) return;
    this.received.update(m, neg.families, taw, this.env.now());
    // One UPDATE adds at most ~1,000 prefixes: the table never gets far past the limit.
    const max = this.cfg.maxPrefixes ?? DEFAULT_MAX_PREFIXES;
    const counts = neg.families.map((f) => [f, this.received.rib.size(f)] as const);
    const total = counts.reduce((n, [, k]) => n + k, 0);
    if (total <= max) return;
    // RFC 4486 Cease 1: data is the AFI, SAFI and upper bound (of the family that overflowed).
    const [f] = counts.reduce((a, b) => (b[1] > a[1] ? b : a));
    const data = new Uint8Array(7);
    const v = new DataView(data.buffer);
    v.setUint16(0, FAMILY_CODES[f].afi);
    v.setUint8(2, FAMILY_CODES[f].safi);
    v.setUint32(3, max);
    this.holdOffUntil = this.env.now() + this.cfg.connectRetrySec * 1000;
    this.fail(
      c,
      { code: ERR.CEASE, subcode: 1, data },
      `sent NOTIFICATION 6/1: maximum number of prefixes reached (${total} > ${max})`,
    );
  }

  private onRefresh(c: Connection, f: Family | undefined, subtype: number): void {
    const neg = this.conns.get(c);
    if (f === undefined || subtype !== 0 || !neg?.families.includes(f)) return;
    // Restarting and the routes not set yet: they go with the End-of-RIB; one now is early.
    if (this.eorPending) return;
    // A peer asking again before reading the last answer gets one answer, not one per ask:
    // the queue holds at most one copy of the adj-RIB-out.
    if (!c.idle) this.refreshWanted.add(f);
    else this.resend(c, f);
  }

  private resend(c: Connection, f: Family): void {
    for (const u of this.out.resend(f, this.wireCtx(c))) c.send(u);
  }

  /**
   * Sends what changed between the desired routes and the adj-RIB-out; waits while the socket
   * is backed up, so changes made meanwhile go together. `eor`: the first send of a session.
   */
  private flush(eor: boolean): void {
    const c = this.est;
    const neg = c && this.conns.get(c);
    if (!c || !neg) return;
    if (this.eorPending) {
      // The first routes after a restart: they go with the End-of-RIB, backed up or not.
      this.eorPending = false;
      eor = true;
    }
    if (!c.idle && !eor) {
      this.flushWanted = true;
      return;
    }
    this.flushWanted = false;
    const out = {
      localAsn: this.cfg.localAsn,
      ibgp: neg.ibgp,
      localAddress: plainAddress(c.socket.localAddress),
      families: neg.families,
    };
    const msgs = this.out.diff(out, this.wireCtx(c), this.env.now(), eor);
    for (const m of msgs) c.send(m);
    if (msgs.length > 0) this.env.changed();
  }

  /** Sends a NOTIFICATION on `c`, closes it and takes the session down. */
  private fail(c: Connection, n: Notify, reason: string): void {
    void c.close(n);
    this.down(c, reason, true);
  }

  private unexpected(c: Connection, m: Message, subcode: number): void {
    this.fail(c, { code: ERR.FSM, subcode }, `unexpected ${m.type} in ${c.state}`);
  }

  /** A connection is gone; `notified`: a NOTIFICATION went either way (no graceful restart). */
  private down(c: Connection, reason: string, notified: boolean): void {
    if (!this.conns.has(c)) return;
    const neg = this.conns.get(c);
    this.conns.delete(c);
    if (c === this.est) {
      this.est = undefined;
      this.establishedAt = undefined;
      this.eorPending = false;
      this.refreshWanted.clear();
      this.out.clearSent();
      this.received.sessionLost(neg, notified);
    }
    if (!reason.startsWith('connection collision')) this.lastError = reason;
    if (this.conns.size === 0 && !this.stopped) this.scheduleRetry(reason, c.state === 'connect');
    this.refresh(reason);
  }

  private scheduleRetry(reason: string, connectFailed: boolean): void {
    if (this.cfg.passive) {
      this.wait = 'active';
      return;
    }
    const ms = Math.max(
      retryDelayMs(this.attempt++, this.cfg.connectRetrySec),
      this.holdOffUntil - this.env.now(),
    );
    // RFC 4271: a failed TCP connect goes to Active (still accepting); any other error to Idle.
    this.wait = connectFailed ? 'active' : 'idle';
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.conns.size === 0 && !this.stopped) this.connectOut();
    }, ms);
    this.retry.unref();
    this.env.log.debug(
      { neighbor: this.cfg.address, retryMs: ms, reason },
      'bgp connect retry scheduled',
    );
  }

  private setWait(w: 'idle' | 'connect' | 'active', reason: string): void {
    this.wait = w;
    this.refresh(reason);
  }

  /** Recomputes the state shown; logs and notifies on a change. */
  private refresh(reason: string): void {
    let s: SessionState = this.wait;
    if (this.est) s = 'established';
    else {
      let best = -1;
      for (const c of this.conns.keys()) {
        const o = ORDER[c.state] ?? -1;
        if (o > best) [best, s] = [o, c.state];
      }
    }
    if (s !== this.shown) {
      this.env.log.info(
        { neighbor: this.cfg.address, from: this.shown, to: s, reason },
        'bgp session state changed',
      );
      this.shown = s;
    }
    this.env.changed();
  }

  private wireCtx(c: Connection | undefined): WireContext {
    const neg = c && this.conns.get(c);
    return { as4: neg?.as4 ?? false, ibgp: this.cfg.peerAsn === this.cfg.localAsn };
  }
}
