import { randomUUID } from 'node:crypto';
import { token } from './token.js';
import type { Observable, Subscription } from 'rxjs';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type Backoff } from './backoff.js';
import { errorMessage, type Health } from './health.js';
import type { Lifecycle } from './lifecycle.js';
import { Trigger } from './trigger.js';

/** What a job function receives: cancelled when its cell stops; its own health scope. */
export interface JobContext {
  readonly signal: AbortSignal;
  readonly health: Health;
}

/** Options every kind of job takes. */
export interface JobOptions {
  /**
   * Its name in /healthz `controllers` when Cilium's clients know it by one (e.g.
   * `cilium-health-ep`); by default `<module>-<job name>`.
   */
  readonly controller?: string;
}

/** Options of a timer job. */
export interface TimerOptions extends JobOptions {
  /** Runs the job early whenever this emits. */
  readonly trigger?: Observable<unknown>;
}

/** Options of a one-shot job. */
export interface OneShotOptions extends JobOptions {
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
    opts?: TimerOptions,
  ): void;
  /** Calls `fn` for each value of `source`, one at a time, until it completes. */
  observer<T>(
    name: string,
    source: Observable<T>,
    fn: (value: T, ctx: JobContext) => void | Promise<void>,
    opts?: JobOptions,
  ): void;
}

/** Lets any cell ask the hive to stop, e.g. after a fatal error. */
export interface Shutdowner {
  shutdown(error?: Error): void;
}

/**
 * A job's run statistics, as Cilium's controllers keep them: every `ok` its job reports counts
 * as a success (a timer's run, an observer's value, a reconciler's round), every `degraded` as
 * a failure.
 */
export interface JobStatus {
  /** The owning module's dotted id. */
  readonly module: string;
  readonly name: string;
  /** The controller name the job asked for, if any. */
  readonly controller?: string;
  readonly kind: 'one-shot' | 'timer' | 'observer';
  /** Stable for the life of the process. */
  readonly uuid: string;
  /** A timer's interval (ms). */
  readonly intervalMs?: number;
  /** Whether failures are retried (one-shots with retries; timers run again anyway). */
  readonly errorRetry: boolean;
  /** The first retry's delay (ms), when failures are retried with backoff. */
  readonly errorRetryBaseMs?: number;
  readonly successCount: number;
  readonly failureCount: number;
  readonly consecutiveFailureCount: number;
  readonly lastSuccess?: Date;
  readonly lastFailure?: Date;
  /** The error of the last run while it is failing; cleared by a success. */
  readonly lastFailureMsg?: string;
}

/** Every job of the hive with its run statistics (for /healthz `controllers`). */
export interface JobRegistry {
  list(): readonly JobStatus[];
}

/** Where the hive's job groups record their jobs. */
export class JobStatusTable implements JobRegistry {
  private readonly jobs: JobStatus[] = [];

  /** Adds a job and returns the object its counters live in. */
  register(s: JobStatus): JobStatus {
    this.jobs.push(s);
    return s;
  }

  /** Every job, in registration order (copies). */
  list(): readonly JobStatus[] {
    return this.jobs.map((j) => ({ ...j }));
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Wraps a job's Health so each report also counts in its statistics. */
function countingHealth(inner: Health, s: Mutable<JobStatus>): Health {
  return {
    ok: (message) => {
      s.successCount++;
      s.consecutiveFailureCount = 0;
      s.lastSuccess = new Date();
      // As Cilium's controllers: the message is the current error, the timestamp stays.
      s.lastFailureMsg = undefined;
      inner.ok(message);
    },
    degraded: (message, error) => {
      s.failureCount++;
      s.consecutiveFailureCount++;
      s.lastFailure = new Date();
      s.lastFailureMsg = error === undefined ? message : `${message}: ${errorMessage(error)}`;
      inner.degraded(message, error);
    },
    stopped: (message) => {
      inner.stopped(message);
    },
    scope: (name) => inner.scope(name),
    close: () => {
      inner.close();
    },
  };
}

const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,100}$/;

type Runner = (ctx: JobContext) => Promise<void>;

type JobInfo = Pick<
  JobStatus,
  'kind' | 'intervalMs' | 'errorRetry' | 'errorRetryBaseMs' | 'controller'
>;

function controller(opts: JobOptions): { controller?: string } {
  return opts.controller === undefined ? {} : { controller: opts.controller };
}

/** What a module's job group needs. */
export interface JobGroupParams {
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly shutdowner: Shutdowner;
  /** The module's dotted id, for the statistics. */
  readonly module?: string;
  /** Where the jobs' statistics are recorded (the hive's table). */
  readonly registry?: JobStatusTable;
}

/** The Jobs of one module: a single lifecycle hook starts and stops all of them. */
export class JobGroup implements Jobs {
  private readonly pending: { name: string; run: Runner; health: Health }[] = [];
  private readonly running = new Set<Promise<void>>();
  private ctl = new AbortController();
  private started = false;
  private hooked = false;
  private readonly lifecycle: Lifecycle;
  private readonly health: Health;
  private readonly shutdowner: Shutdowner;
  private readonly module: string;
  private readonly registry: JobStatusTable;

  constructor(p: JobGroupParams) {
    this.lifecycle = p.lifecycle;
    this.health = p.health;
    this.shutdowner = p.shutdowner;
    this.module = p.module ?? '';
    this.registry = p.registry ?? new JobStatusTable();
  }

  oneShot(name: string, fn: (ctx: JobContext) => Promise<void>, opts: OneShotOptions = {}): void {
    const retries = opts.retries ?? 0;
    const backoff = opts.backoff ?? DEFAULT_BACKOFF;
    const info: JobInfo = {
      kind: 'one-shot',
      ...controller(opts),
      errorRetry: retries !== 0,
      ...(retries !== 0 ? { errorRetryBaseMs: backoff.minMs } : {}),
    };
    this.add(name, info, async (ctx) => {
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
    opts: TimerOptions = {},
  ): void {
    const info: JobInfo = { kind: 'timer', intervalMs, errorRetry: true, ...controller(opts) };
    this.add(name, info, async (ctx) => {
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
    opts: JobOptions = {},
  ): void {
    this.add(name, { kind: 'observer', errorRetry: false, ...controller(opts) }, (ctx) => {
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

  private add(name: string, info: JobInfo, run: Runner): void {
    if (!JOB_NAME.test(name)) throw new Error(`job name '${name}' must match ${JOB_NAME.source}`);
    const stats = this.registry.register({
      module: this.module,
      name,
      uuid: randomUUID(),
      ...info,
      successCount: 0,
      failureCount: 0,
      consecutiveFailureCount: 0,
    });
    const health = countingHealth(this.health.scope(`job-${name}`), stats);
    if (this.started) {
      this.launch(run, health);
      return;
    }
    this.pending.push({ name, run, health });
    if (!this.hooked) {
      this.hooked = true;
      this.lifecycle.append(
        {
          onStart: () => {
            this.started = true;
            this.ctl = new AbortController();
            for (const j of this.pending.splice(0)) this.launch(j.run, j.health);
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

  private launch(run: Runner, health: Health): void {
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

/** Every job of the hive with its run statistics. */
export const HiveJobs = token<JobRegistry>('hive/HiveJobs');

/** Stops the hive from inside. */
export const Shutdowner = token<Shutdowner>('hive/Shutdowner');
