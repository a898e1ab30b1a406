// The BGP speaker: the configured neighbors' sessions, the shared listener, and configuration
// changes applied to only the sessions they touch.
import type { Server, Socket } from 'node:net';
import { Subject } from 'rxjs';
import { setSocketTtl } from '../../../core/net/ttl.js';
import { ERR, type Family } from '../wire/types.js';
import { canonicalAddress, checkConfig, neighborChanged } from './config-check.js';
import { closeServer, listen } from './listener.js';
import { Neighbor, type NeighborEnv } from './neighbor.js';
import { checkAdvertisement, plainAddress } from './routes.js';
import type {
  Advertisement,
  BgpSpeaker,
  PeerStatus,
  RibRoute,
  SpeakerConfig,
  SpeakerParams,
} from './types.js';

/** How often connections from unconfigured addresses are logged (a count in between). */
const REFUSED_LOG_MS = 60_000;

/** Creates a speaker with no neighbors; apply() configures it. */
export function newSpeaker(p: SpeakerParams): BgpSpeaker {
  return new Speaker(p);
}

class Speaker implements BgpSpeaker {
  readonly changes$ = new Subject<void>();
  private config?: SpeakerConfig;
  private readonly neighbors = new Map<string, Neighbor>();
  /** The routes wanted per neighbor, kept across its restarts (and set before it exists). */
  private readonly desired = new Map<string, readonly Advertisement[]>();
  private server?: Server;
  /** The port `server` listens on; 0 when none (after a failed listen, the next apply retries). */
  private listenPort = 0;
  /** Neighbors (by address) that reached Established in this process. */
  private readonly hadSession = new Set<string>();
  private stopped = false;
  /** Connections from unconfigured addresses since the last log line about them. */
  private refused = { count: 0, from: new Set<string>(), loggedAt: -Infinity };
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly p: SpeakerParams) {}

  apply(config: SpeakerConfig): Promise<void> {
    // One apply at a time: a second waits for the first, so they never interleave.
    const run = this.applying.then(() => this.applyNow(config));
    this.applying = run.catch(() => undefined);
    return run;
  }

  setAdvertisements(neighbor: string, routes: readonly Advertisement[]): void {
    for (const r of routes) checkAdvertisement(r);
    const key = canonicalAddress(neighbor);
    this.desired.set(key, routes);
    this.neighbors.get(key)?.setAdvertisements(routes);
  }

  peers(): PeerStatus[] {
    return [...this.neighbors.values()].map((n) => n.status());
  }

  ribOut(neighbor: string, family: Family): RibRoute[] {
    return this.neighbors.get(canonicalAddress(neighbor))?.ribOut(family) ?? [];
  }

  ribIn(neighbor: string, family: Family): RibRoute[] {
    return this.neighbors.get(canonicalAddress(neighbor))?.ribInRoutes(family) ?? [];
  }

  async stop(opts: { readonly graceful: boolean }): Promise<void> {
    this.stopped = true;
    await this.applying;
    const server = this.server;
    this.server = undefined;
    const cease = { code: ERR.CEASE, subcode: 2 };
    await Promise.all([
      ...(server ? [closeServer(server)] : []),
      ...[...this.neighbors.values()].map((n) => n.stop(cease, opts.graceful)),
    ]);
    this.neighbors.clear();
    this.changes$.next();
  }

  private async applyNow(config: SpeakerConfig): Promise<void> {
    if (this.stopped) throw new Error('bgp speaker is stopped');
    checkConfig(config);
    let listenError: Error | undefined;
    const old = this.config;
    if (this.listenPort !== config.listenPort) {
      // The new port first: when it cannot be bound (another BGP daemon has it) the listener in
      // use stays, so passive peers keep reaching the speaker, and the neighbors are still
      // applied, so the sessions this node opens come up; the error is thrown once they are,
      // and the next apply tries the port again.
      try {
        const next =
          config.listenPort !== 0
            ? await listen(
                config.listenPort,
                (s) => this.route(s),
                (e) => this.p.log.warn({ err: e.message }, 'bgp listener: accept failed'),
              )
            : undefined;
        const previous = this.server;
        this.server = next;
        this.listenPort = config.listenPort;
        // Not awaited: close() stops listening at once, but its callback waits for the sessions
        // it accepted, which go on.
        if (previous) void closeServer(previous);
      } catch (e) {
        listenError = e as Error;
      }
    }
    this.config = config;
    const idChanged = old !== undefined && old.routerId !== config.routerId;
    const wanted = new Map(config.neighbors.map((n) => [canonicalAddress(n.address), n]));
    const stopping: Promise<void>[] = [];
    for (const [key, n] of this.neighbors) {
      const next = wanted.get(key);
      if (next && !idChanged && !neighborChanged(n.cfg, next)) continue;
      // Cease 3 (peer de-configured) for a removed neighbor, 6 (other configuration change).
      stopping.push(n.stop({ code: ERR.CEASE, subcode: next ? 6 : 3 }, false));
      this.neighbors.delete(key);
      if (!next) this.desired.delete(key);
    }
    await Promise.all(stopping);
    for (const [key, cfg] of wanted) {
      if (this.neighbors.has(key)) continue;
      const n = new Neighbor(cfg, this.env(key, config.routerId));
      this.neighbors.set(key, n);
      const routes = this.desired.get(key);
      if (routes) n.setAdvertisements(routes);
      n.start();
    }
    this.changes$.next();
    if (listenError !== undefined) throw listenError;
  }

  private env(key: string, routerId: string): NeighborEnv {
    const log = this.p.log;
    return {
      routerId,
      // The R bit only on each neighbor's first session of this process (RFC 4724 §3).
      restarting: () => this.p.restarting && !this.hadSession.has(key),
      established: () => this.hadSession.add(key),
      log,
      now: this.p.now ?? Date.now,
      changed: () => this.changes$.next(),
      setTtl: (s: Socket, ttl: number) => {
        try {
          setSocketTtl(s, ttl);
        } catch (e) {
          log.warn({ peer: s.remoteAddress, ttl, err: String(e) }, 'bgp: cannot set the TTL');
        }
      },
    };
  }

  /** An accepted connection goes to the neighbor configured with its source address. */
  private route(s: Socket): void {
    const from = canonicalAddress(plainAddress(s.remoteAddress));
    const n = this.neighbors.get(from);
    if (!n) {
      s.destroy();
      this.logRefused(from);
      return;
    }
    n.accept(s);
  }

  /**
   * Logs connections from unconfigured addresses at most once per REFUSED_LOG_MS, with how
   * many there were: anyone who reaches the port could otherwise write a log line per SYN.
   */
  private logRefused(from: string): void {
    const r = this.refused;
    r.count++;
    if (r.from.size < 8) r.from.add(from);
    const now = (this.p.now ?? Date.now)();
    if (now - r.loggedAt < REFUSED_LOG_MS) return;
    this.p.log.info(
      { from: [...r.from], connections: r.count },
      'bgp: connections from unconfigured addresses closed',
    );
    this.refused = { count: 0, from: new Set(), loggedAt: now };
  }
}
