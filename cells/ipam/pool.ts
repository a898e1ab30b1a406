import { formatIp, parseIp, type Family } from '../../core/ip.js';

/** Pools larger than this many addresses are refused (their bitmap would not fit sensibly). */
export const MAX_POOL_SIZE = 1 << 22;

/** An address handed out: to whom, and until when unless confirmed. */
export interface Allocation {
  readonly ip: string;
  readonly owner: string;
  /** Set when the allocation expires unless an endpoint confirms it. */
  readonly expirationUuid?: string;
  /** Set while an endpoint uses the address: only that endpoint's deletion frees it. */
  readonly inUse?: boolean;
}

/** Why an allocation failed; the API maps `kind` to a status. */
export class IpamError extends Error {
  constructor(
    readonly kind:
      'exhausted' | 'in-use' | 'reserved' | 'out-of-range' | 'invalid' | 'disabled' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}

/**
 * The addresses of one pod CIDR: a bitmap with next-fit allocation. The network address, the
 * IPv4 broadcast address and the router (gateway) address are never handed out.
 */
export class IpPool {
  readonly family: Family;
  readonly base: bigint;
  readonly size: number;
  /** The gateway the pods route through (the host side), the first usable address. */
  readonly router: string;
  private readonly used: Uint8Array;
  private readonly owners = new Map<number, Allocation>();
  private cursor = 0;
  private reserved = 0;

  constructor(readonly cidr: string) {
    const [ip = '', lenText = ''] = cidr.split('/');
    const parsed = parseIp(ip);
    if (!parsed) throw new IpamError('invalid', `'${cidr}' is not a CIDR`);
    this.family = parsed.family;
    const bits = this.family === 'ipv4' ? 32 : 128;
    const hostBits = bits - Number(lenText);
    if (hostBits < 2) throw new IpamError('invalid', `${cidr} is too small for a pod CIDR`);
    if (2 ** hostBits > MAX_POOL_SIZE) {
      throw new IpamError(
        'invalid',
        `${cidr} has ${2 ** hostBits} addresses; at most ${MAX_POOL_SIZE} are supported`,
      );
    }
    this.size = 2 ** hostBits;
    this.base = (parsed.value >> BigInt(hostBits)) << BigInt(hostBits);
    this.used = new Uint8Array(this.size);
    this.reserve(0);
    if (this.family === 'ipv4') this.reserve(this.size - 1);
    this.reserve(1);
    this.router = this.ipAt(1);
  }

  /** Addresses that can be handed out at all. */
  get capacity(): number {
    return this.size - this.reserved;
  }

  /** Addresses handed out now. */
  get inUse(): number {
    return this.owners.size;
  }

  /** Every allocation, in address order. */
  allocations(): Allocation[] {
    return [...this.owners.entries()].sort(([a], [b]) => a - b).map(([, a]) => a);
  }

  /** The allocation of an IP, if it has one. */
  get(ip: string): Allocation | undefined {
    const i = this.offsetOf(ip);
    return i === undefined ? undefined : this.owners.get(i);
  }

  /** Whether an IP belongs to this pool's range. */
  contains(ip: string): boolean {
    return this.offsetOf(ip) !== undefined;
  }

  /** Hands out the next free address. */
  allocateNext(owner: string, expirationUuid?: string): Allocation {
    if (this.inUse >= this.capacity) {
      throw new IpamError(
        'exhausted',
        `${this.family === 'ipv4' ? 'IPv4' : 'IPv6'} pool ${this.cidr} is exhausted: all ${this.capacity} addresses are in use`,
      );
    }
    for (let n = 0; n < this.size; n++) {
      const i = (this.cursor + n) % this.size;
      if (this.used[i] === 0) {
        this.cursor = (i + 1) % this.size;
        return this.take(i, owner, expirationUuid);
      }
    }
    throw new IpamError('exhausted', `pool ${this.cidr} is exhausted`);
  }

  /** Hands out a given address (to an endpoint when `inUse`). */
  allocate(ip: string, owner: string, inUse = false): Allocation {
    const i = this.offsetOf(ip);
    if (i === undefined)
      throw new IpamError('out-of-range', `${ip} is not in the pool ${this.cidr}`);
    if (this.used[i] !== 0) {
      const by = this.owners.get(i);
      if (!by) {
        throw new IpamError(
          'reserved',
          `${ip} is ${this.reservedRole(ip) ?? 'reserved'} of ${this.cidr}`,
        );
      }
      throw new IpamError('in-use', `${ip} is already allocated to ${by.owner || '(no owner)'}`);
    }
    return this.take(i, owner, undefined, inUse);
  }

  /** Replaces the allocation of an allocated address (a claim by an endpoint, or its undo). */
  replace(a: Allocation): void {
    const i = this.offsetOf(a.ip);
    if (i === undefined || !this.owners.has(i)) {
      throw new IpamError('not-found', `${a.ip} is not allocated in ${this.cidr}`);
    }
    this.owners.set(i, a);
  }

  /** Frees an address; false when it was not allocated. */
  release(ip: string): boolean {
    const i = this.offsetOf(ip);
    if (i === undefined || !this.owners.has(i)) return false;
    this.owners.delete(i);
    this.used[i] = 0;
    return true;
  }

  private take(i: number, owner: string, expirationUuid?: string, inUse = false): Allocation {
    const a: Allocation = {
      ip: this.ipAt(i),
      owner,
      ...(expirationUuid ? { expirationUuid } : {}),
      ...(inUse ? { inUse } : {}),
    };
    this.used[i] = 1;
    this.owners.set(i, a);
    return a;
  }

  /** What a reserved address of the pool is (network, router, broadcast), or undefined. */
  reservedRole(ip: string): string | undefined {
    const i = this.offsetOf(ip);
    if (i === undefined || this.used[i] === 0 || this.owners.has(i)) return undefined;
    if (i === 0) return 'the network address';
    if (i === 1) return 'the router (gateway) address';
    return 'the broadcast address';
  }

  private reserve(i: number): void {
    if (this.used[i] === 0) {
      this.used[i] = 1;
      this.reserved++;
    }
  }

  private ipAt(i: number): string {
    return formatIp(this.family, this.base + BigInt(i));
  }

  private offsetOf(ip: string): number | undefined {
    const p = parseIp(ip);
    if (p?.family !== this.family) return undefined;
    const off = p.value - this.base;
    return off >= 0n && off < BigInt(this.size) ? Number(off) : undefined;
  }
}
