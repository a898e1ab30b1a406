// The speaker's interface: what the bgp cell (config, advertisements, API) uses of the BGP-4
// sessions (speaker/*). Contract between the cell and the speaker.
import type { Observable } from 'rxjs';
import type { Family, PathAttrs } from '../wire/types.js';

/** RFC 4271 §8.2.2 session states, as GoBGP/Cilium print them (lowercase). */
export type SessionState =
  'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established';

/** One configured neighbor (a CiliumBGPPeeringPolicy neighbor of one virtual router). */
export interface NeighborConfig {
  /** The peer's IP (no prefix length); unique across the speaker. */
  readonly address: string;
  readonly port: number; // 179
  readonly peerAsn: number;
  /** The virtual router's ASN this session speaks as. */
  readonly localAsn: number;
  /** Only accept the peer's connection (never connect out); needs a listener. */
  readonly passive: boolean;
  readonly connectRetrySec: number; // 120
  /** Hold time offered; 0 or ≥ 3 (RFC 4271). */
  readonly holdTimeSec: number; // 90
  readonly keepaliveSec: number; // 30 (hold/3 once negotiated lower)
  /** TTL of outgoing packets for eBGP (1: directly connected); iBGP uses 255. */
  readonly ebgpMultihopTtl: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTimeSec: number };
  /** Families offered in OPEN (multiprotocol capability). */
  readonly families: readonly Family[];
  /** Source address of outgoing connections (bind); undefined: the kernel picks it. */
  readonly localAddress?: string;
  /**
   * The most routes the peer may send (all families); one more ends the session with Cease 1
   * (RFC 4486). Undefined: DEFAULT_MAX_PREFIXES (neighbor.ts).
   */
  readonly maxPrefixes?: number;
}

/** The whole speaker's configuration; applying it touches only what changed. */
export interface SpeakerConfig {
  /** BGP identifier, dotted quad. */
  readonly routerId: string;
  /** TCP port passive sessions are accepted on; 0: no listener (active sessions only). */
  readonly listenPort: number;
  readonly neighbors: readonly NeighborConfig[];
}

/** A route the node wants advertised to one neighbor. */
export interface Advertisement {
  /** Canonical CIDR ('10.1.0.0/24', 'fd00:1::/64', '172.20.0.10/32'). */
  readonly prefix: string;
  /**
   * Next hop (node address of the prefix's family). Undefined: the session's local address
   * when it is of the prefix's family; otherwise the route is not sent (and counted nowhere).
   */
  readonly nextHop?: string;
  readonly communities: readonly number[];
  readonly largeCommunities: readonly (readonly [number, number, number])[];
  /** LOCAL_PREF, sent to iBGP peers only (RFC 4271 §5.1.5). */
  readonly localPref?: number;
}

/** A route in a table as the API shows it. */
export interface RibRoute {
  readonly family: Family;
  readonly prefix: string;
  readonly nextHop: string;
  readonly attrs: PathAttrs;
  /** The attributes as sent/received, each one encoded (GET /bgp/routes base64s them). */
  readonly encodedAttrs: readonly Uint8Array[];
  /** The NLRI as encoded (length byte + prefix bytes). */
  readonly encodedNlri: Uint8Array;
  readonly best: boolean;
  readonly stale: boolean;
  /** When it entered this table (ms since epoch). */
  readonly since: number;
}

/** Per-family counters of a session (Cilium's BgpPeerFamilies). */
export interface FamilyCounts {
  readonly family: Family;
  readonly received: number;
  readonly accepted: number;
  readonly advertised: number;
}

/** A neighbor's session as GET /bgp/peers shows it (Cilium's BgpPeer). */
export interface PeerStatus {
  readonly config: NeighborConfig;
  readonly state: SessionState;
  /** ms since epoch the session became established; undefined when it is not. */
  readonly establishedAt?: number;
  /** Hold time and keepalive in effect (0 when not established). */
  readonly appliedHoldTimeSec: number;
  readonly appliedKeepaliveSec: number;
  /** Families both sides negotiated. */
  readonly families: readonly FamilyCounts[];
  /** Graceful restart negotiated with this peer (both sides sent the capability). */
  readonly gracefulRestartNegotiated: boolean;
  /** The last error (NOTIFICATION sent or received, connection failure), for status. */
  readonly lastError?: string;
  readonly peerRouterId?: string;
}

/** The BGP-4 speaker: sessions with the configured neighbors and their adj-RIBs. */
export interface BgpSpeaker {
  /**
   * Applies a configuration: new neighbors start, removed ones stop (Cease 3, peer
   * de-configured), changed ones restart (Cease 6, other configuration change); unchanged
   * sessions are not touched. Router id or listen port changes restart what they must.
   * A listen port that cannot be bound rejects, after the neighbors were applied (the sessions
   * this node opens run); the next apply tries the port again.
   */
  apply(config: SpeakerConfig): Promise<void>;
  /**
   * The routes a neighbor should have from this node; only the difference from what it has
   * is sent (UPDATE / withdraw), now if established, else when it comes up (then End-of-RIB).
   */
  setAdvertisements(neighbor: string, routes: readonly Advertisement[]): void;
  peers(): PeerStatus[];
  /** What was sent to a neighbor (adj-RIB-out) in one family. */
  ribOut(neighbor: string, family: Family): RibRoute[];
  /** What a neighbor sent (adj-RIB-in), stale marks included while it restarts. */
  ribIn(neighbor: string, family: Family): RibRoute[];
  /** Emits on any session state or RIB change (for health, metrics and the API's watchers). */
  readonly changes$: Observable<void>;
  /**
   * Stops every session. `graceful`: where graceful restart was negotiated, the TCP
   * connection is closed without a NOTIFICATION so the peer keeps the routes as stale while
   * the agent restarts; elsewhere (and when not graceful) Cease 2 (administrative shutdown).
   */
  stop(opts: { readonly graceful: boolean }): Promise<void>;
}

/** What newSpeaker takes. */
export interface SpeakerParams {
  /** The agent restarted with BGP state from a previous run: the GR R bit is set in OPENs. */
  readonly restarting: boolean;
  readonly log: {
    info(o: object, msg: string): void;
    warn(o: object, msg: string): void;
    debug(o: object, msg: string): void;
  };
  /** Clock for uptimes (tests). */
  readonly now?: () => number;
}
// speaker/index.ts exports newSpeaker(p: SpeakerParams): BgpSpeaker.
