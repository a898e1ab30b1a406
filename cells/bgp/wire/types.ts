// The BGP-4 message model (RFC 4271, 4760, 6793, 2918, 4724, 1997, 8092): what the codec
// decodes to and encodes from. Contract between the codec (wire/*) and the sessions (speaker/*).

/** An address family the speaker carries: IPv4 or IPv6 unicast. */
export type Family = 'ipv4-unicast' | 'ipv6-unicast';

/** AFI/SAFI numbers of each family (RFC 4760). */
export const FAMILY_CODES: Readonly<Record<Family, { afi: number; safi: number }>> = {
  'ipv4-unicast': { afi: 1, safi: 1 },
  'ipv6-unicast': { afi: 2, safi: 1 },
};

/** Message type codes (RFC 4271 §4.1, RFC 2918). */
export const MSG = { OPEN: 1, UPDATE: 2, NOTIFICATION: 3, KEEPALIVE: 4, ROUTE_REFRESH: 5 } as const;

/** A capability the codec does not model, kept as received. */
export interface RawCapability {
  readonly code: number;
  readonly value: Uint8Array;
}

/** Graceful restart capability (RFC 4724 §3). */
export interface GracefulRestartCap {
  /** The R bit: the sender has restarted. */
  readonly restarting: boolean;
  readonly restartTimeSec: number; // 0..4095
  /** Families whose forwarding state the sender preserves (F bit per family). */
  readonly families: readonly { readonly family: Family; readonly forwardingPreserved: boolean }[];
}

/** The capabilities an OPEN carries (RFC 5492 optional parameter 2). */
export interface Capabilities {
  /** Multiprotocol families (code 1); unknown AFI/SAFI pairs are left in `unknown`. */
  readonly multiprotocol: readonly Family[];
  /** Route refresh (code 2; the Cisco pre-standard code 128 is read as the same). */
  readonly routeRefresh: boolean;
  /** 4-octet AS number capability (code 65): the sender's real AS. */
  readonly as4?: number;
  /** Graceful restart (code 64). */
  readonly gracefulRestart?: GracefulRestartCap;
  readonly unknown: readonly RawCapability[];
}

/** OPEN (RFC 4271 §4.2). */
export interface OpenMsg {
  readonly type: 'open';
  readonly version: number; // 4
  /** The 2-octet "My Autonomous System" field (AS_TRANS 23456 for a 4-octet AS). */
  readonly myAs: number;
  readonly holdTimeSec: number;
  /** BGP Identifier, dotted quad. */
  readonly bgpId: string;
  readonly caps: Capabilities;
}

/** An AS_PATH segment (AS_SET 1, AS_SEQUENCE 2; confed 3/4 read but never sent). */
export interface AsSegment {
  readonly type: 1 | 2 | 3 | 4;
  readonly asns: readonly number[];
}

/** A path attribute the codec does not model, kept as received (optional transitive ones are passed on). */
export interface RawAttr {
  readonly flags: number;
  readonly code: number;
  readonly value: Uint8Array;
}

/** The path attributes of a route (those the speaker reads or writes; others kept raw). */
export interface PathAttrs {
  /** ORIGIN: 0 IGP, 1 EGP, 2 INCOMPLETE. */
  readonly origin: 0 | 1 | 2;
  /** AS_PATH with 4-octet ASNs (AS4_PATH merged in when the session is 2-octet). */
  readonly asPath: readonly AsSegment[];
  /** NEXT_HOP (IPv4 NLRI in the UPDATE body). */
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: { readonly asn: number; readonly address: string };
  /** COMMUNITIES (RFC 1997), each a 32-bit value (asn << 16 | value). */
  readonly communities?: readonly number[];
  /** LARGE_COMMUNITY (RFC 8092): [global admin, local 1, local 2]. */
  readonly largeCommunities?: readonly (readonly [number, number, number])[];
  readonly originatorId?: string;
  readonly clusterList?: readonly string[];
  readonly unknown: readonly RawAttr[];
}

/** MP_REACH_NLRI (RFC 4760 §3). */
export interface MpReach {
  readonly family: Family;
  /** One next hop (IPv4 or global IPv6), or a global and a link-local IPv6 (32 bytes). */
  readonly nextHops: readonly string[];
  readonly nlri: readonly string[];
}

/** MP_UNREACH_NLRI (RFC 4760 §4); no prefixes is the family's End-of-RIB (RFC 4724 §2). */
export interface MpUnreach {
  readonly family: Family;
  readonly withdrawn: readonly string[];
}

/** UPDATE (RFC 4271 §4.3). Prefixes are canonical CIDR strings ('10.1.0.0/24', 'fd00::/64'). */
export interface UpdateMsg {
  readonly type: 'update';
  /** IPv4 withdrawn routes. */
  readonly withdrawn: readonly string[];
  /** Absent when the UPDATE carries no attributes (a pure withdraw or the IPv4 End-of-RIB). */
  readonly attrs?: PathAttrs;
  /** IPv4 NLRI. */
  readonly nlri: readonly string[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
}

/** NOTIFICATION (RFC 4271 §4.5). */
export interface NotificationMsg {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

/** KEEPALIVE. */
export interface KeepaliveMsg {
  readonly type: 'keepalive';
}

/** ROUTE-REFRESH (RFC 2918; subtype 0 normal, 1/2 enhanced BoRR/EoRR, RFC 7313). */
export interface RouteRefreshMsg {
  readonly type: 'route-refresh';
  /** Undefined for an AFI/SAFI the speaker does not carry (it is then ignored). */
  readonly family?: Family;
  readonly afi: number;
  readonly safi: number;
  readonly subtype: number;
}

/** Any BGP message. */
export type Message = OpenMsg | UpdateMsg | NotificationMsg | KeepaliveMsg | RouteRefreshMsg;

/** NOTIFICATION error codes and subcodes (RFC 4271 §4.5, 6; RFC 4486 Cease subcodes). */
export const ERR = {
  HEADER: 1, // subcodes: 1 connection not synchronized, 2 bad message length, 3 bad message type
  OPEN: 2, // 1 unsupported version, 2 bad peer AS, 3 bad BGP identifier, 4 unsupported optional parameter, 6 unacceptable hold time, 7 unsupported capability
  UPDATE: 3, // 1 malformed attribute list, 2 unrecognized well-known, 3 missing well-known, 4 attribute flags, 5 attribute length, 6 invalid origin, 8 invalid next hop, 9 optional attribute error, 10 invalid network field, 11 malformed AS_PATH
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5, // RFC 6608: 1 unexpected in OpenSent, 2 in OpenConfirm, 3 in Established
  CEASE: 6, // RFC 4486: 2 administrative shutdown, 3 peer de-configured, 4 administrative reset, 5 connection rejected, 6 other configuration change, 7 connection collision resolution
  ROUTE_REFRESH: 7, // RFC 7313: 1 invalid message length
} as const;

/** A protocol error found while decoding: the NOTIFICATION to send before closing. */
export interface WireError {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  /** What was wrong, for logs and the peer's status ("bad marker", "ORIGIN length 2"). */
  readonly reason: string;
}

/** What the session has negotiated, which decoding and encoding depend on. */
export interface WireContext {
  /** Both sides sent the 4-octet AS capability: AS_PATH carries 4-octet ASNs. */
  readonly as4: boolean;
  /** The session is iBGP (LOCAL_PREF is mandatory from an internal peer, RFC 7606 §7.5). */
  readonly ibgp: boolean;
}

/**
 * Result of decoding one message body. `ok: false` is a session-fatal error: send its
 * NOTIFICATION and close. An UPDATE with `treatAsWithdraw` set (RFC 7606) keeps the session:
 * every prefix it announces (NLRI and MP_REACH) is to be handled as withdrawn.
 */
export type Decoded =
  | {
      readonly ok: true;
      readonly msg: Message;
      readonly treatAsWithdraw?: string;
      /** Attributes discarded under RFC 7606 "attribute discard" (for logs). */
      readonly discarded?: readonly string[];
    }
  | { readonly ok: false; readonly error: WireError };

/** A route to send: its prefix, next hop (IPv4 or IPv6, as the family) and attributes (nextHop unused). */
export interface OutRoute {
  readonly prefix: string;
  readonly nextHop: string;
  readonly attrs: PathAttrs;
}

/** The maximum BGP message length without the extended messages capability. */
export const MAX_MESSAGE = 4096;
/** The header length (marker 16, length 2, type 1). */
export const HEADER_LEN = 19;

// ---- What wire/index.ts exports (implemented in wire/*.ts) ----
//
// class MessageReader — splits a TCP byte stream into messages:
//   push(chunk: Uint8Array): void
//   next(): { type: number; body: Uint8Array } | { error: WireError } | undefined
//     header checks: marker not all ones → 1/1; length < 19, > 4096, or wrong for the type
//     (OPEN < 29, UPDATE < 23, KEEPALIVE ≠ 19, NOTIFICATION < 21, ROUTE-REFRESH ≠ 23) → 1/2
//     with the length as data; unknown type → 1/3 with the type as data.
// decodeMessage(type: number, body: Uint8Array, ctx: WireContext): Decoded   — never throws
// encodeOpen(m: Omit<OpenMsg, 'type'>): Uint8Array
// encodeKeepalive(): Uint8Array
// encodeNotification(code, subcode, data?): Uint8Array
// encodeRouteRefresh(family: Family, subtype?: number): Uint8Array
// encodeUpdate(u: Omit<UpdateMsg, 'type'>, ctx: WireContext): Uint8Array   (≤ 4096 or throws RangeError)
// encodeEndOfRib(family: Family): Uint8Array
// packUpdates(family, routes: readonly OutRoute[], ctx): Uint8Array[]
//   routes with equal attributes and next hop share UPDATEs, each filled to ≤ 4096 bytes (IPv4:
//   NEXT_HOP attribute + NLRI; IPv6: MP_REACH_NLRI with the next hop);
// packWithdrawals(family, prefixes, ctx): Uint8Array[] likewise (IPv4 withdrawn routes; IPv6 MP_UNREACH).
// encodeAttrs(attrs: PathAttrs, ctx, mpReach?): Uint8Array[] — each attribute's bytes (flags, code,
//   length, value) in code order: what GET /bgp/routes returns base64-encoded per attribute.
// formatCommunity(n) '65000:100' / parseCommunity(s) (also well-known names: no-export,
//   no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown); parseLargeCommunity('1:2:3').
