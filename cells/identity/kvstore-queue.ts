import type { Logger } from '../../core/hive/index.js';

/** How long work waits before trying again after an error of the kvstore or the API server. */
const RETRY_MS = [200, 500, 1000, 2000] as const;

/** The wait before retry `attempt` (0-based) of a cluster store call (kvstore or API server). */
export function retryDelay(attempt: number): number {
  return RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)] ?? 2000;
}

/** What the queues need. */
export interface LabelQueuesParams {
  readonly logger: Logger;
  /** Aborts when the allocator stops: background work then ends. */
  readonly signal: AbortSignal;
  /** What the work talks to, for log lines (default 'kvstore'). */
  readonly store?: string;
}

/**
 * The kvstore allocator's work per label string (take, re-take, drop), one piece after the
 * other so a release and a re-allocation of the same labels never race; background work is
 * retried until it succeeds or the allocator stops.
 */
export class LabelQueues {
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Background work waiting to retry. */
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly p: LabelQueuesParams) {}

  /** Runs `fn` after every earlier piece of work for the same label string. */
  serial<T>(ls: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(ls) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(ls, tail);
    void tail.then(() => {
      if (this.queues.get(ls) === tail) this.queues.delete(ls);
    });
    return run;
  }

  /** Queues work for a label string, retried until it succeeds or the allocator stops. */
  background(ls: string, what: string, fn: (sig: AbortSignal) => Promise<void>): void {
    const sig = this.p.signal;
    const stopped = () => sig.aborted; // read afresh after each await
    void this.serial(ls, async () => {
      for (let attempt = 0; !stopped(); attempt++) {
        try {
          await fn(sig);
          return;
        } catch (e) {
          if (stopped()) return;
          const log = attempt === 0 ? 'warn' : 'debug';
          this.p.logger[log](
            { labels: ls, err: e, attempt },
            `identity ${what}: ${this.p.store ?? 'kvstore'} failed`,
          );
          await this.pause(retryDelay(attempt), sig);
        }
      }
    });
  }

  /** Retries waiting background work now (the kvstore is back). */
  wake(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  /** Waits `ms`, or less when `signal` aborts or wake() is called. */
  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.sleepers.add(done);
    });
  }
}

/**
 * `p`, unless `signal` aborts first; a value that arrives after that is handed to `late` (so a
 * reference taken for a caller who gave up is released).
 */
export function untilAborted<T>(
  p: Promise<T>,
  signal: AbortSignal,
  late: (v: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const onAbort = () => {
      if (done) return;
      done = true;
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (done) late(v);
        else {
          done = true;
          resolve(v);
        }
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!done) {
          done = true;
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      },
    );
  });
}
