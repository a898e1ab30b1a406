import { randomUUID } from 'node:crypto';
import { parseIp, type Family } from '../../core/ip.js';
import { token, type Health, type Logger } from '../../core/hive/index.js';
import type { IpamConfig } from './config.js';
import { IpamError, IpPool, type Allocation } from './pool.js';

/** The node's IP address management: what the API, the endpoint manager and restore use. */
export interface Ipam {
  /** The enabled families' pools. */
  readonly pools: ReadonlyMap<Family, IpPool>;
  /** Hands out the next free IP of a family; waits until restored state is re-reserved. */
  allocateNext(
    family: Family,
    owner: string,
    opts?: { readonly expiration?: boolean },
  ): Promise<Allocation>;
  /** Hands out a given IP. */
  allocateIp(ip: string, owner: string): Promise<Allocation>;
  /** Frees an IP, or every IP of an owner; returns what was freed. */
  release(ipOrOwner: string): string[];
  /** Confirms an expiring allocation (an endpoint now uses it). */
  confirm(ip: string): boolean;
  /** Re-reserves an IP found in restored state, before any new allocation is served. */
  restore(ip: string, owner: string): Allocation;
  /** Delays allocations until `done` is called (e.g. until endpoints are restored). */
  holdAllocations(reason: string): () => void;
  /** Every allocation, IP → owner. */
  allocations(): Record<string, string>;
}

/** The node's IPAM. */
export const Ipam = token<Ipam>('ipam/Ipam');

/** What the IPAM needs. */
export interface IpamParams {
  readonly config: IpamConfig;
  readonly health: Health;
  readonly logger: Logger;
}

const NAMES: Record<Family, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** Creates the cluster-pool IPAM from the node's configured pod CIDRs. */
export function newIpam(p: IpamParams): Ipam {
  const pools = new Map<Family, IpPool>();
  if (p.config.enableIpv4) pools.set('ipv4', new IpPool(p.config.ipv4Range));
  if (p.config.enableIpv6) pools.set('ipv6', new IpPool(p.config.ipv6Range));
  const timers = new Map<string, NodeJS.Timeout>();
  const holds = new Set<string>();
  let released: (() => void) | undefined;
  let held: Promise<void> = Promise.resolve();

  const pool = (family: Family): IpPool => {
    const pl = pools.get(family);
    if (!pl) throw new IpamError('disabled', `${NAMES[family]} is disabled (--enable-${family})`);
    return pl;
  };
  const poolOf = (ip: string): IpPool => {
    const parsed = parseIp(ip);
    if (!parsed) throw new IpamError('invalid', `'${ip}' is not an IP address`);
    return pool(parsed.family);
  };
  const report = (): void => {
    const parts = [...pools.values()].map(
      (pl) => `${NAMES[pl.family]} ${pl.cidr}: ${pl.inUse} of ${pl.capacity} in use`,
    );
    p.health.ok(parts.join('; ') || 'no address family enabled');
  };
  const stopTimer = (ip: string): void => {
    clearTimeout(timers.get(ip));
    timers.delete(ip);
  };
  const expireLater = (ip: string, uuid: string): void => {
    const t = setTimeout(() => {
      timers.delete(ip);
      const a = pools.get(parseIp(ip)?.family ?? 'ipv4')?.get(ip);
      if (a?.expirationUuid !== uuid) return;
      poolOf(ip).release(ip);
      p.logger.info({ ip, owner: a.owner }, 'released an IP nobody confirmed in time');
      report();
    }, p.config.ipamExpiration);
    t.unref();
    timers.set(ip, t);
  };
  report();

  return {
    pools,
    async allocateNext(family, owner, opts = {}) {
      await held;
      const uuid = opts.expiration ? randomUUID() : undefined;
      const a = pool(family).allocateNext(owner, uuid);
      if (uuid) expireLater(a.ip, uuid);
      report();
      return a;
    },
    async allocateIp(ip, owner) {
      await held;
      const a = poolOf(ip).allocate(ip, owner);
      report();
      return a;
    },
    release(ipOrOwner) {
      if (parseIp(ipOrOwner)) {
        const ok = poolOf(ipOrOwner).release(ipOrOwner);
        stopTimer(ipOrOwner);
        report();
        return ok ? [ipOrOwner] : [];
      }
      const freed: string[] = [];
      for (const pl of pools.values()) {
        for (const a of pl.allocations()) {
          if (a.owner === ipOrOwner && pl.release(a.ip)) {
            stopTimer(a.ip);
            freed.push(a.ip);
          }
        }
      }
      report();
      return freed;
    },
    confirm(ip) {
      const confirmed = poolOf(ip).confirm(ip);
      stopTimer(ip);
      return confirmed !== undefined;
    },
    restore(ip, owner) {
      const pl = poolOf(ip);
      const existing = pl.get(ip);
      const a = existing?.owner === owner ? existing : pl.allocate(ip, owner);
      report();
      return a;
    },
    holdAllocations(reason) {
      holds.add(reason);
      if (holds.size === 1) {
        held = new Promise<void>((resolve) => {
          released = resolve;
        });
      }
      return () => {
        holds.delete(reason);
        if (holds.size === 0) released?.();
      };
    },
    allocations() {
      const out: Record<string, string> = {};
      for (const pl of pools.values()) for (const a of pl.allocations()) out[a.ip] = a.owner;
      return out;
    },
  };
}
