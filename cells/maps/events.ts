/** What the owner wants done with a map entry, as Cilium's map cache calls it. */
export type DesiredAction = 'ok' | 'insert' | 'delete';

/** One write or delete of a map entry by the map's owner, successful or not. */
export interface MapEntryEvent {
  readonly timestamp: Date;
  readonly action: 'update' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly desiredAction: DesiredAction;
  readonly lastError?: string;
}

/** Follow streams one map's buffer serves at once, as Cilium's. */
export const MAX_SUBSCRIBERS = 32;

/** A follower of a map's events: `next` for each new event, `end` when the buffer closes. */
export interface EventSubscriber {
  next(e: MapEntryEvent): void;
  end(): void;
}

/**
 * The last `capacity` events of one map (older ones are dropped; with a TTL, events older than
 * it are not served either), and the follow streams subscribed to it.
 */
export class EventRing {
  private readonly buf: MapEntryEvent[] = [];
  private start = 0;
  private readonly subs = new Set<EventSubscriber>();
  private closed = false;

  constructor(
    readonly capacity: number,
    /** Events older than this are not served; 0 keeps them until overwritten. */
    readonly ttlMs = 0,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`an event buffer needs a capacity of at least 1, not ${capacity}`);
    }
  }

  /** Appends an event (dropping the oldest when full) and hands it to every follower. */
  push(e: MapEntryEvent): void {
    if (this.buf.length < this.capacity) this.buf.push(e);
    else {
      this.buf[this.start] = e;
      this.start = (this.start + 1) % this.capacity;
    }
    for (const s of [...this.subs]) s.next(e);
  }

  /** The buffered events, oldest first (within the TTL, if any). */
  dump(): MapEntryEvent[] {
    const all = [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
    if (this.ttlMs <= 0) return all;
    const since = this.now() - this.ttlMs;
    return all.filter((e) => e.timestamp.getTime() >= since);
  }

  /** How many follow streams are subscribed or about to (reserved). */
  get subscribers(): number {
    return this.subs.size + this.reserved;
  }

  private reserved = 0;

  /**
   * Holds a place for a follow stream the API has accepted but not started yet, so concurrent
   * requests cannot all pass the limit; the next `subscribe` takes it.
   */
  reserve(): void {
    this.reserved++;
  }

  /**
   * Hands `s` the buffered events, then every new one, until the returned unsubscribe is called
   * or the buffer closes (`s.end()`). Both happen in one turn, so no event falls in between.
   */
  subscribe(s: EventSubscriber): () => void {
    if (this.reserved > 0) this.reserved--;
    for (const e of this.dump()) s.next(e);
    if (this.closed) {
      s.end();
      return () => undefined;
    }
    this.subs.add(s);
    return () => {
      this.subs.delete(s);
    };
  }

  /** Ends every follow stream (the agent is stopping); later subscribers end at once. */
  close(): void {
    this.closed = true;
    const subs = [...this.subs];
    this.subs.clear();
    for (const s of subs) s.end();
  }
}
