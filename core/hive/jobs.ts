import { token } from './token.js';
import type { Observable, Subscription } from 'rxjs';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type Backoff } from './backoff.js';
import type { Health } from './health.js';
import type { Lifecycle } from './lifecycle.js';
import { Trigger } from './trigger.js';

/** What a job function receives: cancelled when its cell stops; its own health scope. */
export interface JobContext {
  readonly signal: AbortSignal;
  readonly health: Health;
}

/** Options of a one-shot job. */
export interface OneShotOptions {
  /** Retries after a failure; negative means forever. Default 0. */
  readonly retries?: number;
  readonly backoff?: Backoff;
  /** Stop the whole agent when the job finally fails. */
  readonly shutdownOnError?: boolean;
}

/** Jobs owned by one module; they start with it (or at once, if it runs) and end with it. */
export interface Jobs {
  /** Runs `fn` once, retrying failures as configured. */
  oneShot(name: string, fn: (ctx: JobContext) => Promise<void>, opts?: OneShotOptions): void;
  /** Runs `fn` every `intervalMs`, and early whenever `trigger` emits. */
  timer(
    name: string,
    fn: (ctx: JobContext) => void | Promise<void>,
    intervalMs: number,
    opts?: { readonly trigger?: Observable<unknown> },
  ): void;
  /** Calls `fn` for each value of `source`, one at a time, until it completes. */
  observer<T>(
    name: string,
    source: Observable<T>,
    fn: (value: T, ctx: JobContext) => void | Promise<void>,
  ): void;
}

/** Lets any cell ask the hive to stop, e.g. after a fatal error. */
export interface Shutdowner {
  shutdown(error?: Error): void;
}

const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,100}$/;

type Runner = (ctx: JobContext) => Promise<void>;

/** The Jobs of one module: a single lifecycle hook starts and stops all of them. */
export class JobGroup implements Jobs {
  private readonly pending: { name: string; run: Runner }[] = [];
  private readonly running = new Set<Promise<void>>();
  private ctl = new AbortController();
  private started = false;
  private hooked = false;

  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly health: Health,
    private readonly shutdowner: Shutdowner,
  ) {}

  oneShot(name: string, fn: (ctx: JobContext) => Promise<void>, opts: OneShotOptions = {}): void {
    const retries = opts.retries ?? 0;
    const backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.add(name, async (ctx) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await fn(ctx);
          if (!ctx.signal.aborted) ctx.health.ok('completed');
          return;
        } catch (e) {
          if (ctx.signal.aborted) return;
          const final = retries >= 0 && attempt >= retries;
          ctx.health.degraded(final ? 'failed' : `failed, retry ${attempt + 1}`, e);
          if (final) {
            if (opts.shutdownOnError) {
              this.shutdowner.shutdown(e instanceof Error ? e : new Error(String(e)));
            }
            return;
          }
          await sleep(backoffDelay(backoff, attempt), ctx.signal);
        }
      }
    });
  }

  timer(
    name: string,
    fn: (ctx: JobContext) => void | Promise<void>,
    intervalMs: number,
    opts: { readonly trigger?: Observable<unknown> } = {},
  ): void {
    this.add(name, async (ctx) => {
      const trigger = new Trigger();
      const sub = opts.trigger?.subscribe(() => {
        trigger.poke();
      });
      try {
        while (!ctx.signal.aborted) {
          try {
            await fn(ctx);
            ctx.health.ok('ran');
          } catch (e) {
            ctx.health.degraded('run failed', e);
          }
          await trigger.wait(intervalMs, ctx.signal);
        }
      } finally {
        sub?.unsubscribe();
      }
    });
  }

  observer<T>(
    name: string,
    source: Observable<T>,
    fn: (value: T, ctx: JobContext) => void | Promise<void>,
  ): void {
    this.add(name, (ctx) => {
      let chain = Promise.resolve();
      let sub: Subscription | undefined;
      return new Promise<void>((resolve) => {
        const finish = (): void => {
          sub?.unsubscribe();
          void chain.then(resolve);
        };
        ctx.signal.addEventListener('abort', finish, { once: true });
        sub = source.subscribe({
          next: (v) => {
            chain = chain.then(async () => {
              if (ctx.signal.aborted) return;
              try {
                await fn(v, ctx);
                ctx.health.ok('processing');
              } catch (e) {
                ctx.health.degraded('handler failed', e);
              }
            });
          },
          error: (e: unknown) => {
            ctx.health.degraded('source failed', e);
            finish();
          },
          complete: () => {
            void chain.then(() => {
              ctx.health.ok('completed');
            });
            finish();
          },
        });
        ctx.health.ok('observing');
      });
    });
  }

  private add(name: string, run: Runner): void {
    if (!JOB_NAME.test(name)) throw new Error(`job name '${name}' must match ${JOB_NAME.source}`);
    if (this.started) {
      this.launch(name, run);
      return;
    }
    this.pending.push({ name, run });
    if (!this.hooked) {
      this.hooked = true;
      this.lifecycle.append(
        {
          onStart: () => {
            this.started = true;
            this.ctl = new AbortController();
            for (const j of this.pending.splice(0)) this.launch(j.name, j.run);
          },
          onStop: async () => {
            this.ctl.abort();
            this.started = false;
            await Promise.all(this.running);
          },
        },
        'jobs',
      );
    }
  }

  private launch(name: string, run: Runner): void {
    const health = this.health.scope(`job-${name}`);
    const p = run({ signal: this.ctl.signal, health })
      .catch((e: unknown) => {
        health.degraded('crashed', e);
      })
      .finally(() => {
        this.running.delete(p);
        if (this.ctl.signal.aborted) health.stopped('stopped');
      });
    this.running.add(p);
  }
}

/** The module-scoped job group. */
export const Jobs = token<Jobs>('hive/Jobs');

/** Stops the hive from inside. */
export const Shutdowner = token<Shutdowner>('hive/Shutdowner');
