// Service and backend ids: stable for an address while it is in use, and kept across restarts
// (restored from the pinned maps before anything new is allocated), so existing connections keep
// their backend and their reverse NAT entry.

/** How many released addresses remember their id. */
const RECENT = 4096;

/** An id the allocator cannot give: taken by another owner, or none left. */
export class IdError extends Error {
  override name = 'IdError';
}

/**
 * Ids in [first, max] owned by keys (frontend or backend addresses). New ids are handed out in
 * increasing order and wrap around, so a released id is not reused soon (the datapath may still
 * hold it for a moment).
 */
export class IdAllocator {
  private readonly byKey = new Map<string, number>();
  private readonly byId = new Map<number, string>();
  /** Ids found in the maps at start, for addresses not (yet) wanted again. */
  private readonly restored = new Map<string, number>();
  /**
   * The ids of addresses released lately (the oldest forgotten past RECENT): an address that
   * comes back soon (a rolled-back change, a backend that flaps) gets its id again if it is free.
   */
  private readonly recent = new Map<string, number>();
  private next: number;

  constructor(
    readonly what: string,
    private readonly first: number,
    private readonly max: number,
  ) {
    this.next = first;
  }

  /** Notes an id found in the pinned maps: `key` gets it again if it asks before anyone else. */
  restore(key: string, id: number): void {
    if (id < this.first || id > this.max || this.restored.has(key)) return;
    this.restored.set(key, id);
    this.restoredIds = undefined;
    if (id >= this.next) this.next = id + 1 > this.max ? this.first : id + 1;
  }

  /** The id `key` holds. */
  lookup(key: string): number | undefined {
    return this.byKey.get(key);
  }

  /** Forgets the ids restored from the maps (after the first prune). */
  forgetRestored(): void {
    this.restored.clear();
    this.restoredIds = undefined;
  }

  /**
   * The id of `key`: the one it holds, else `want` (if free), else the one restored for it,
   * else the next free one. Throws IdError when `want` is taken or no id is left.
   */
  acquire(key: string, want = 0): number {
    const held = this.byKey.get(key);
    if (held !== undefined) {
      if (want !== 0 && want !== held) {
        throw new IdError(`${key} already has ${this.what} id ${held}, not ${want}`);
      }
      return held;
    }
    if (want !== 0) {
      if (want < this.first || want > this.max) {
        throw new IdError(`${this.what} id ${want} is out of range ${this.first}-${this.max}`);
      }
      const other = this.byId.get(want);
      if (other !== undefined) {
        throw new IdError(`${this.what} id ${want} is already in use by ${other}`);
      }
      if (this.isRestoredForOther(want, key)) {
        throw new IdError(
          `${this.what} id ${want} is still in the maps for another address; use another id`,
        );
      }
      return this.take(key, want);
    }
    const restored = this.restored.get(key);
    if (restored !== undefined && !this.byId.has(restored)) return this.take(key, restored);
    const lately = this.recent.get(key);
    if (lately !== undefined && !this.byId.has(lately) && !this.isRestoredForOther(lately, key))
      return this.take(key, lately);
    const span = this.max - this.first + 1;
    for (let i = 0; i < span; i++) {
      const id = this.next;
      this.next = id >= this.max ? this.first : id + 1;
      // A restored id stays reserved for its address until the first prune.
      if (!this.byId.has(id) && !this.isRestoredForOther(id, key)) return this.take(key, id);
    }
    throw new IdError(`no ${this.what} id left (${span} in use)`);
  }

  /** Frees the id `key` holds. */
  release(key: string): void {
    const id = this.byKey.get(key);
    if (id === undefined) return;
    this.byKey.delete(key);
    this.byId.delete(id);
    this.recent.delete(key);
    this.recent.set(key, id);
    if (this.recent.size > RECENT) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  /** How many ids are held. */
  get size(): number {
    return this.byKey.size;
  }

  private restoredIds: Set<number> | undefined;

  private isRestoredForOther(id: number, key: string): boolean {
    if (this.restored.size === 0) return false;
    this.restoredIds ??= new Set(this.restored.values());
    return this.restoredIds.has(id) && this.restored.get(key) !== id;
  }

  private take(key: string, id: number): number {
    this.byKey.set(key, id);
    this.byId.set(id, key);
    return id;
  }
}
