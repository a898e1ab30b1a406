import type { Observable } from 'rxjs';
import type { Model } from '../../core/api/index.js';
import {
  errorMessage,
  token,
  type Health,
  type JobContext,
  type Jobs,
  type Lifecycle,
} from '../../core/hive/index.js';

/**
 * A status probe a cell registers: it runs as a job of the daemon every `intervalMs`, and what
 * it last returned is applied to each /v1/healthz answer; one that has not answered
 * `timeoutMs` after it started is named in the answer's `stale` (the section keeps its last
 * value) until it does. /v1/healthz never waits on a probe.
 */
export interface StatusProbe<T> {
  /** Unique; names the probe in `stale` and its job (`probe-<name>`) in `controllers`. */
  readonly name: string;
  /** The wait between the end of one run and the start of the next. */
  readonly intervalMs: number;
  /** How long a run may take before its section is stale. */
  readonly timeoutMs: number;
  /** Runs the probe early whenever this emits (e.g. a map found full). */
  readonly trigger?: Observable<unknown>;
  /** Does the slow part (reading the kernel, asking a peer); `signal` aborts when the hive stops. */
  readonly probe: (signal: AbortSignal) => Promise<T> | T;
  /** Writes the last successful result into the answer (cheap, synchronous). */
  readonly apply: (s: Model<'StatusResponse'>, last: T) => void;
  /** Writes the last run's error into the answer, when it failed (default: health only). */
  readonly failed?: (s: Model<'StatusResponse'>, error: string) => void;
}

/** Where cells register status probes (the daemon's collector). */
export interface StatusProbes {
  add<T>(p: StatusProbe<T>): void;
}

/** Where cells register status probes: `probes.add({ name, intervalMs, timeoutMs, probe, apply })`. */
export const StatusProbes = token<StatusProbes>('daemon/StatusProbes');

interface ProbeState<T> {
  readonly spec: StatusProbe<T>;
  last?: { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };
  /** When the run that is late started. */
  staleSince?: Date;
}

const PROBE_NAME = /^[a-z][a-z0-9-]{0,60}$/;

/** Resolves with `p`, or rejects when `signal` aborts (a stuck probe must not hold up stop). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new Error('stopped'));
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
    });
  });
}

/** What the collector needs: the daemon's jobs, which its probes run as; its health. */
export interface StatusCollectorParams {
  readonly jobs: Jobs;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
}

/** The daemon's status collector: runs the probes and keeps their last results. */
export class StatusCollector implements StatusProbes {
  private readonly probes = new Map<string, ProbeState<unknown>>();
  private readonly jobs: Jobs;

  constructor(p: StatusCollectorParams) {
    this.jobs = p.jobs;
    // The daemon's own line in the health tree (its probes' jobs report below it).
    p.lifecycle.append(
      {
        onStart: () => {
          p.health.ok(`serving /healthz; ${this.probes.size} status probes`);
        },
      },
      'status-collector',
    );
  }

  /** Registers a probe; its job starts with the daemon (at once if the hive runs). */
  add<T>(spec: StatusProbe<T>): void {
    if (!PROBE_NAME.test(spec.name)) {
      throw new Error(`status probe name '${spec.name}' must match ${PROBE_NAME.source}`);
    }
    if (this.probes.has(spec.name)) throw new Error(`status probe '${spec.name}' added twice`);
    for (const k of ['intervalMs', 'timeoutMs'] as const) {
      if (!(spec[k] > 0)) throw new Error(`status probe '${spec.name}': ${k} must be > 0`);
    }
    const state: ProbeState<T> = { spec };
    this.probes.set(spec.name, state as ProbeState<unknown>);
    this.jobs.timer(
      `probe-${spec.name}`,
      (ctx) => this.run(state, ctx),
      spec.intervalMs,
      spec.trigger ? { trigger: spec.trigger } : {},
    );
  }

  private async run<T>(state: ProbeState<T>, ctx: JobContext): Promise<void> {
    const { spec } = state;
    const started = new Date();
    const timer = setTimeout(() => {
      state.staleSince = started;
      ctx.health.degraded(`stale: no answer within ${spec.timeoutMs} ms`);
    }, spec.timeoutMs);
    try {
      const value = await untilAborted(
        Promise.resolve().then(() => spec.probe(ctx.signal)),
        ctx.signal,
      );
      state.last = { ok: true, value };
    } catch (e) {
      if (ctx.signal.aborted) return;
      state.last = { ok: false, error: errorMessage(e) };
      // The timer job reports it: degraded health, a failure in `controllers`.
      throw e;
    } finally {
      clearTimeout(timer);
      state.staleSince = undefined;
    }
  }

  /** The probes that have not answered in time: name → when the late run started. */
  stale(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, s] of this.probes) {
      if (s.staleSince) out[name] = s.staleSince.toISOString();
    }
    return out;
  }

  /**
   * Writes every probe's last result (or error) into an answer. A result its cell cannot apply
   * is that section's error, not a failed /healthz.
   */
  apply(s: Model<'StatusResponse'>): void {
    for (const { spec, last } of this.probes.values()) {
      try {
        if (last?.ok === true) spec.apply(s, last.value);
        else if (last?.ok === false) spec.failed?.(s, last.error);
      } catch (e) {
        try {
          spec.failed?.(s, `its last result could not be applied: ${errorMessage(e)}`);
        } catch {
          // the section stays as the answer had it
        }
      }
    }
  }
}
