// From the node's advertisements to the routes a session sends (RFC 4271 §5.1: ORIGIN,
// AS_PATH, NEXT_HOP, LOCAL_PREF for iBGP), and the table rows the API shows.
import { isIPv4 } from 'node:net';
import { formatIp, parseIp } from '../../../core/ip.js';
import { prefixFamily } from '../wire/index.js';
import type { Family, OutRoute, PathAttrs } from '../wire/types.js';
import type { Advertisement } from './types.js';

/** Checks that `prefix` is a canonical CIDR (no host bits, shortest IPv6 form). */
export function checkPrefix(prefix: string): void {
  const [ip = '', len = '', extra] = prefix.split('/');
  const p = parseIp(ip);
  const bits = p?.family === 'ipv4' ? 32 : 128;
  const n = Number(len);
  if (!p || extra !== undefined || !/^\d{1,3}$/.test(len) || n > bits) {
    throw new Error(`advertisement prefix '${prefix}' is not a CIDR`);
  }
  const host = (1n << BigInt(bits - n)) - 1n;
  const canonical = `${formatIp(p.family, p.value & ~host)}/${n}`;
  if (canonical !== prefix) {
    throw new Error(`advertisement prefix '${prefix}' is not canonical (${canonical})`);
  }
}

const U32 = 0xffffffff;
const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U32;

/** Checks an advertisement (prefix, next hop, communities, LOCAL_PREF); the Error names the field. */
export function checkAdvertisement(ad: Advertisement): void {
  checkPrefix(ad.prefix);
  const at = `advertisement ${ad.prefix}`;
  if (ad.nextHop !== undefined) {
    const nh = parseIp(ad.nextHop);
    if (!nh) throw new Error(`${at}: nextHop '${ad.nextHop}' is not an IP`);
    if ((nh.family === 'ipv4') !== (prefixFamily(ad.prefix) === 'ipv4-unicast')) {
      throw new Error(`${at}: nextHop ${ad.nextHop} is not of the prefix's family`);
    }
  }
  for (const c of ad.communities) {
    if (!isU32(c)) throw new Error(`${at}: community ${c} is not a 32-bit unsigned integer`);
  }
  for (const l of ad.largeCommunities) {
    if (!l.every(isU32)) {
      throw new Error(
        `${at}: large community ${l.join(':')} is not three 32-bit unsigned integers`,
      );
    }
  }
  if (ad.localPref !== undefined && !isU32(ad.localPref)) {
    throw new Error(`${at}: localPref ${ad.localPref} is not a 32-bit unsigned integer`);
  }
}

/** The NLRI bytes of a prefix: its length in bits, then the significant octets (§4.3). */
export function encodeNlri(prefix: string): Uint8Array {
  const [ip = '', len = '0'] = prefix.split('/');
  const n = Number(len);
  const p = parseIp(ip);
  const width = p?.family === 'ipv6' ? 16 : 4;
  const out = new Uint8Array(1 + Math.ceil(n / 8));
  out[0] = n;
  const v = p?.value ?? 0n;
  for (let i = 1; i < out.length; i++) {
    out[i] = Number((v >> BigInt((width - i) * 8)) & 0xffn);
  }
  return out;
}

/** What decides the attributes of the routes a session sends. */
export interface OutContext {
  readonly localAsn: number;
  readonly ibgp: boolean;
  /** The session's local address (source of the TCP connection), v4-mapped form removed. */
  readonly localAddress: string;
  readonly families: readonly Family[];
}

/** A route the session sends, with a key that changes when anything sent about it changes. */
export interface OutEntry {
  readonly route: OutRoute;
  readonly key: string;
  /** When it was sent (ms since epoch; 0 until then). */
  readonly since: number;
}

/**
 * The routes to send per negotiated family, by prefix. A route without a next hop of its
 * family (none given and the session is of the other family) is left out.
 */
export function outRoutes(
  ads: Iterable<Advertisement>,
  ctx: OutContext,
): Map<Family, Map<string, OutEntry>> {
  const out = new Map<Family, Map<string, OutEntry>>(ctx.families.map((f) => [f, new Map()]));
  const localIs4 = isIPv4(ctx.localAddress);
  // Routes with the same next hop, LOCAL_PREF and communities share one attributes object:
  // packUpdates encodes each object once (10,000 service /32s are one or two objects, not 10,000).
  const shared = new Map<string, PathAttrs>();
  for (const ad of ads) {
    const family = prefixFamily(ad.prefix);
    const table = out.get(family);
    if (!table) continue;
    const nextHop =
      ad.nextHop ?? ((family === 'ipv4-unicast') === localIs4 ? ctx.localAddress : undefined);
    if (nextHop === undefined) continue;
    const key = `${nextHop}|${ad.localPref ?? ''}|${ad.communities.join(',')}|${ad.largeCommunities.map((l) => l.join(':')).join(',')}`;
    let attrs = shared.get(key);
    if (!attrs) {
      attrs = {
        origin: 0,
        asPath: ctx.ibgp ? [] : [{ type: 2, asns: [ctx.localAsn] }],
        ...(ctx.ibgp && { localPref: ad.localPref ?? 100 }),
        ...(ad.communities.length > 0 && { communities: ad.communities }),
        ...(ad.largeCommunities.length > 0 && { largeCommunities: ad.largeCommunities }),
        unknown: [],
      };
      shared.set(key, attrs);
    }
    table.set(ad.prefix, { route: { prefix: ad.prefix, nextHop, attrs }, key, since: 0 });
  }
  return out;
}

/** Removes the IPv4-mapped IPv6 form a dual-stack socket reports ('::ffff:10.0.0.1'). */
export function plainAddress(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}
