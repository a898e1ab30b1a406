// An in-memory BgpSpeaker for the cell's tests: no sockets; it records what the cell asks
// (configs applied, advertisements per neighbor, stop) and lets a test set session states.
import { Subject, type Observable } from 'rxjs';
import { prefixFamily } from './wire/index.js';
import type { Family } from './wire/types.js';
import type {
  Advertisement,
  BgpSpeaker,
  NeighborConfig,
  PeerStatus,
  RibRoute,
  SessionState,
  SpeakerConfig,
  SpeakerParams,
} from './speaker/types.js';

/** A speaker double: every call is recorded; sessions are in the state a test sets. */
export class MemorySpeaker implements BgpSpeaker {
  /** Every configuration applied, in order. */
  readonly applied: SpeakerConfig[] = [];
  /** Every setAdvertisements call, in order. */
  readonly adverts: { neighbor: string; routes: readonly Advertisement[] }[] = [];
  /** The stop call, once made. */
  stopped?: { readonly graceful: boolean };
  /** Make apply fail with this (e.g. a listener that cannot bind). */
  failApply?: Error;
  private readonly states = new Map<string, SessionState>();
  private readonly current = new Map<string, readonly Advertisement[]>();
  private readonly since = new Map<string, number>();
  private readonly changes = new Subject<void>();

  constructor(readonly params?: SpeakerParams) {}

  get changes$(): Observable<void> {
    return this.changes.asObservable();
  }

  /** The neighbors of the last configuration applied. */
  get neighbors(): readonly NeighborConfig[] {
    return this.applied.at(-1)?.neighbors ?? [];
  }

  /** What a neighbor is to have now (the last setAdvertisements for it). */
  routesOf(neighbor: string): readonly Advertisement[] {
    return this.current.get(neighbor) ?? [];
  }

  /** Sets a session's state (a test's stand-in for the FSM). */
  setState(neighbor: string, state: SessionState): void {
    this.states.set(neighbor, state);
    if (state === 'established') this.since.set(neighbor, Date.now());
    else this.since.delete(neighbor);
    this.changes.next();
  }

  apply(config: SpeakerConfig): Promise<void> {
    if (this.failApply) return Promise.reject(this.failApply);
    this.applied.push(config);
    const keep = new Set(config.neighbors.map((n) => n.address));
    for (const a of [...this.states.keys()]) if (!keep.has(a)) this.states.delete(a);
    for (const a of [...this.current.keys()]) if (!keep.has(a)) this.current.delete(a);
    this.changes.next();
    return Promise.resolve();
  }

  setAdvertisements(neighbor: string, routes: readonly Advertisement[]): void {
    this.adverts.push({ neighbor, routes });
    this.current.set(neighbor, routes);
    this.changes.next();
  }

  peers(): PeerStatus[] {
    return this.neighbors.map((config) => {
      const state = this.states.get(config.address) ?? 'active';
      const up = state === 'established';
      const since = this.since.get(config.address);
      const sent = this.routesOf(config.address);
      return {
        config,
        state,
        ...(up && since !== undefined ? { establishedAt: since } : {}),
        appliedHoldTimeSec: up ? config.holdTimeSec : 0,
        appliedKeepaliveSec: up ? config.keepaliveSec : 0,
        families: up
          ? config.families.map((family) => ({
              family,
              received: 0,
              accepted: 0,
              advertised: sent.filter((r) => prefixFamily(r.prefix) === family).length,
            }))
          : [],
        gracefulRestartNegotiated: up && config.gracefulRestart.enabled,
      };
    });
  }

  ribOut(neighbor: string, family: Family): RibRoute[] {
    if (this.states.get(neighbor) !== 'established') return [];
    return this.routesOf(neighbor)
      .filter((r) => prefixFamily(r.prefix) === family)
      .map((r) => ({
        family,
        prefix: r.prefix,
        nextHop: r.nextHop ?? '',
        attrs: {
          origin: 0,
          asPath: [],
          communities: r.communities,
          largeCommunities: r.largeCommunities,
          ...(r.localPref !== undefined ? { localPref: r.localPref } : {}),
          unknown: [],
        },
        encodedAttrs: [Uint8Array.of(0x40, 1, 1, 0)], // ORIGIN IGP
        encodedNlri: Uint8Array.of(Number(r.prefix.split('/')[1])),
        best: true,
        stale: false,
        since: Date.now(),
      }));
  }

  ribIn(): RibRoute[] {
    return [];
  }

  stop(opts: { readonly graceful: boolean }): Promise<void> {
    this.stopped = opts;
    this.changes.complete();
    return Promise.resolve();
  }
}
