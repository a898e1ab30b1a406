import { randomUUID } from 'node:crypto';
import { parseIp, type Family } from '../../core/ip.js';
import { Gate } from '../../core/api/index.js';
import {
  ConfigError,
  token,
  type Health,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import type { K8sResources } from '../k8s/index.js';
import type { IpamConfig } from './config.js';
import { K8sPodCidrs } from './k8s-pod-cidrs.js';
import { IpamError, IpPool, MAX_POOL_SIZE, type Allocation } from './pool.js';

/** The node's IP address management: what the API, the endpoint manager and restore use. */
export interface Ipam {
  /**
   * The enabled families' pools. Empty until the pod CIDRs are known (IPAM mode kubernetes:
   * until this node's Node object has them); read it when needed, or after ready().
   */
  readonly pools: ReadonlyMap<Family, IpPool>;
  /** Resolves once the pools exist (at once in cluster-pool mode); rejects when `signal` aborts. */
  ready(signal?: AbortSignal): Promise<void>;
  /** What allocations wait for before the pools exist (e.g. the Node's podCIDRs), or undefined. */
  waitingFor(): string | undefined;
  /** The families allocations come from; waits as an allocation does while the pools are not there. */
  families(): Promise<Family[]>;
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
  readonly lifecycle: Lifecycle;
  /** This node's name (its Node object's, in IPAM mode kubernetes). */
  readonly nodeName: string;
  /** The reflected Kubernetes resources, when the hive has them (IPAM mode kubernetes needs them). */
  readonly k8s: K8sResources | undefined;
}

const NAMES: Record<Family, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/**
 * The part of a pod CIDR a pool can hold: the CIDR itself, or its first MAX_POOL_SIZE
 * addresses (an IPv6 /64 from the controller-manager becomes its first /106).
 */
export function poolCidr(cidr: string): string {
  const [ip = '', len = ''] = cidr.split('/');
  const bits = ip.includes(':') ? 128 : 32;
  const min = bits - Math.log2(MAX_POOL_SIZE);
  return Number(len) < min ? `${ip}/${min}` : cidr;
}

/**
 * Creates the IPAM: cluster-pool from the configured pod CIDRs; kubernetes from this node's Node
 * object, its allocations waiting (gate closed) until the Node has its podCIDRs.
 */
export function newIpam(p: IpamParams): Ipam {
  const pools = new Map<Family, IpPool>();
  const families = (['ipv4', 'ipv6'] as const).filter((f) =>
    f === 'ipv4' ? p.config.enableIpv4 : p.config.enableIpv6,
  );
  const timers = new Map<string, NodeJS.Timeout>();
  const gate = new Gate();
  let havePools!: () => void;
  const poolsReady = new Promise<void>((resolve) => (havePools = resolve));
  let fromNode: K8sPodCidrs | undefined;
  let poolsSet = p.config.ipam !== 'kubernetes';
  if (p.config.ipam === 'kubernetes') {
    const k8s = p.k8s;
    if (k8s?.enabled !== true) {
      throw new ConfigError([
        {
          flag: 'ipam',
          message:
            "'kubernetes' takes the pod CIDRs from this node's Node object: it needs Kubernetes mode (--k8s-kubeconfig-path, or an in-cluster service account); use cluster-pool (--ipv4-range) in embedded mode",
        },
      ]);
    }
    const open = gate.hold(`waiting for podCIDRs of node ${p.nodeName}`);
    fromNode = new K8sPodCidrs({
      nodes: k8s.nodes,
      nodeName: p.nodeName,
      families,
      health: p.health,
      logger: p.logger,
      take: (cidrs) => {
        const made = new Map<Family, IpPool>();
        try {
          for (const [f, cidr] of cidrs) {
            const used = poolCidr(cidr);
            if (used !== cidr) {
              p.logger.warn(
                { podCIDR: cidr, pool: used },
                `pod CIDR ${cidr} is larger than a pool holds: allocating from ${used}`,
              );
            }
            made.set(f, new IpPool(used));
          }
        } catch (e) {
          return e instanceof Error ? e.message : String(e);
        }
        for (const [f, pl] of made) pools.set(f, pl);
        poolsSet = true;
        report();
        open();
        havePools();
        return undefined;
      },
    });
    const source = fromNode;
    p.lifecycle.append({ onStart: () => source.start(), onStop: () => source.stop() }, 'podcidrs');
  } else {
    if (p.config.enableIpv4) pools.set('ipv4', new IpPool(p.config.ipv4Range));
    if (p.config.enableIpv6) pools.set('ipv6', new IpPool(p.config.ipv6Range));
    havePools();
  }

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
  function report(): void {
    if (!poolsSet) return; // the pod CIDR source reports until the pools exist
    const parts = [...pools.values()].map(
      (pl) => `${NAMES[pl.family]} ${pl.cidr}: ${pl.inUse} of ${pl.capacity} in use`,
    );
    p.health.ok(parts.join('; ') || 'no address family enabled');
  }
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
    ready: (signal) =>
      signal
        ? Promise.race([
            poolsReady,
            new Promise<never>((_, reject) => {
              if (signal.aborted) reject(new Error('stopped'));
              signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
            }),
          ])
        : poolsReady,
    waitingFor: () => fromNode?.waiting(),
    async families() {
      await gate.pass();
      return [...pools.keys()];
    },
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
