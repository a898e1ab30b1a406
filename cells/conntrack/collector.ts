// The conntrack GC as a job: runs at start, then after an interval that adapts to how much each
// run deleted (or --conntrack-gc-interval), or at once when asked (`trigger`).
import {
  errorMessage,
  token,
  Trigger,
  type Health,
  type Jobs,
  type Logger,
} from '../../core/hive/index.js';
import type { CtConfig } from './config.js';
import type { CtMaps } from './ctmaps.js';
import { GC_START_MS, nextInterval, runGc, type GcRun } from './gc.js';

/** The conntrack garbage collector. */
export interface CtGc {
  /** Runs a collection soon (e.g. when a map is full). */
  trigger(): void;
  /** The last run, if any. */
  last(): GcRun | undefined;
  /** The interval until the next run. */
  interval(): number;
  /** One line for /debuginfo. */
  describe(): string;
}

/** The conntrack garbage collector. */
export const CtGc = token<CtGc>('conntrack/CtGc');

function seconds(ms: number): string {
  return ms >= 60_000
    ? `${(ms / 60_000).toFixed(ms % 60_000 === 0 ? 0 : 1)}m`
    : `${Math.round(ms / 1000)}s`;
}

/** Registers the GC job. */
export function newCtGc(p: {
  readonly config: CtConfig;
  readonly maps: CtMaps;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
}): CtGc {
  const trigger = new Trigger();
  let last: GcRun | undefined;
  let interval = p.config.conntrackGcInterval || GC_START_MS;
  const health = p.health.scope('gc');
  const describe = (): string => {
    if (!last) return `no run yet; first in ${seconds(interval)}`;
    const del = last.maps.reduce((s, m) => s + m.deleted, 0);
    const seen = last.maps.reduce((s, m) => s + m.seen, 0);
    return `last run ${last.at.toISOString()}: ${del} of ${seen} entries deleted in ${Math.round(last.ms)} ms (max ratio ${(last.ratio * 100).toFixed(2)}%); next in ${seconds(interval)}`;
  };
  p.jobs.oneShot('ct-gc', async (ctx) => {
    const stopped = (): boolean => ctx.signal.aborted;
    let started = performance.now();
    while (!stopped()) {
      try {
        const run = await runGc([p.maps.open.v4, p.maps.open.v6], ctx.signal);
        const actual = performance.now() - started;
        if (!last)
          p.logger.info({ ms: Math.round(run.ms) }, 'initial gc of ct and nat maps completed');
        last = run;
        const fixed = p.config.conntrackGcInterval;
        const next =
          fixed > 0
            ? fixed
            : nextInterval({
                expectedMs: interval,
                actualMs: actual,
                ratio: run.ratio,
                maxMs: p.config.conntrackGcMaxInterval,
              });
        if (next !== interval) {
          p.logger.info(
            { previous: interval, next, ratio: run.ratio },
            'conntrack garbage collector interval recalculated',
          );
        }
        interval = next;
        health.ok(describe());
      } catch (e) {
        if (stopped()) return;
        health.degraded(`conntrack garbage collection failed: ${errorMessage(e)}`, e);
      }
      started = performance.now();
      await trigger.wait(interval, ctx.signal);
    }
  });
  return {
    trigger: () => trigger.poke(),
    last: () => last,
    interval: () => interval,
    describe,
  };
}
