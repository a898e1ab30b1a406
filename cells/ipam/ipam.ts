import { randomUUID } from 'node:crypto';
import { parseIp, type Family } from '../../core/ip.js';
import { Gate } from '../../core/api/index.js';
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
  /** Hands out a given IP; waits until restored state is re-reserved. */
  allocateIp(ip: string, owner: string): Promise<Allocation>;
  /**
   * Frees an IP, or every IP of an owner, that no endpoint uses (DELETE /ipam, as Cilium's
   * plugin calls it); an endpoint's IP is freed only with the endpoint. Returns what was freed.
   */
  release(ipOrOwner: string): Promise<string[]>;
  /**
   * An endpoint takes an IP: a free one is allocated to `owner`, one allocated to `owner` (or
   * to nobody) is confirmed; one held by someone else is refused. Returns the undo.
   */
  claim(ip: string, owner: string): () => void;
  /** Frees an endpoint's IP, only if `owner` holds it as an endpoint's; false otherwise. */
  unclaim(ip: string, owner: string): boolean;
  /** Re-reserves an IP found in restored state, before any new allocation is served. */
  restore(ip: string, owner: string): Allocation;
  /** Delays allocations and releases until `done` is called (e.g. until endpoints are restored). */
  holdAllocations(reason: string): () => void;
  /** The allocation of an IP, if it has one. */
  get(ip: string): Allocation | undefined;
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
  const gate = new Gate();

  const pool = (family: Family): IpPool => {
    const pl = pools.get(family);
    if (!pl) {
      throw new IpamError(
        'disabled',
        `${NAMES[family]} is disabled on this node (--enable-${family}=false)`,
      );
    }
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
      const pl = poolOf(ip);
      const a = pl.get(ip);
      if (a?.expirationUuid !== uuid) return;
      pl.release(ip);
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
      await gate.pass();
      const uuid = opts.expiration ? randomUUID() : undefined;
      const a = pool(family).allocateNext(owner, uuid);
      if (uuid) expireLater(a.ip, uuid);
      report();
      return a;
    },
    async allocateIp(ip, owner) {
      await gate.pass();
      const a = poolOf(ip).allocate(ip, owner);
      report();
      return a;
    },
    async release(ipOrOwner) {
      await gate.pass();
      const held = parseIp(ipOrOwner)
        ? [poolOf(ipOrOwner).get(ipOrOwner)].filter((a) => a !== undefined)
        : [...pools.values()].flatMap((pl) =>
            pl.allocations().filter((a) => a.owner === ipOrOwner),
          );
      const used = held.filter((a) => a.inUse === true);
      if (used.length > 0 && used.length === held.length) {
        throw new IpamError(
          'in-use',
          `${used.map((a) => a.ip).join(', ')} ${used.length > 1 ? 'are' : 'is'} used by the endpoint of ${used[0]?.owner || '(no owner)'}: deleting the endpoint releases it`,
        );
      }
      const freed: string[] = [];
      for (const a of held) {
        if (a.inUse !== true && poolOf(a.ip).release(a.ip)) {
          stopTimer(a.ip);
          freed.push(a.ip);
        }
      }
      report();
      return freed;
    },
    claim(ip, owner) {
      const pl = poolOf(ip);
      const prev = pl.get(ip);
      if (!prev) {
        pl.allocate(ip, owner, true);
        report();
        return () => {
          if (pl.get(ip)?.owner === owner) pl.release(ip);
          report();
        };
      }
      if (prev.inUse || (prev.owner !== owner && prev.owner !== '')) {
        throw new IpamError(
          'in-use',
          `${ip} is allocated to ${prev.owner || '(no owner)'}${prev.inUse ? ' and used by its endpoint' : ''}, not to ${owner}`,
        );
      }
      stopTimer(ip);
      pl.replace({ ip, owner, inUse: true });
      return () => {
        if (pl.get(ip)?.inUse !== true) return;
        pl.replace(prev);
        if (prev.expirationUuid) expireLater(ip, prev.expirationUuid);
      };
    },
    unclaim(ip, owner) {
      const pl = poolOf(ip);
      const a = pl.get(ip);
      if (a?.inUse !== true || a.owner !== owner) return false;
      pl.release(ip);
      stopTimer(ip);
      report();
      return true;
    },
    restore(ip, owner) {
      const a = poolOf(ip).allocate(ip, owner, true);
      report();
      return a;
    },
    holdAllocations: (reason) => gate.hold(reason),
    get: (ip) => {
      const family = parseIp(ip)?.family;
      return family ? pools.get(family)?.get(ip) : undefined;
    },
    allocations() {
      const out: Record<string, string> = {};
      for (const pl of pools.values()) for (const a of pl.allocations()) out[a.ip] = a.owner;
      return out;
    },
  };
}
