// The wait between attempts to reach the API server, list or watch: doubling from half a second
// up to --k8s-watch-backoff-max, with jitter so that a thousand agents that lost the API server
// together do not come back in step.
import { backoffDelay } from '../../core/hive/index.js';

/** The first retry's delay (ms), unless the maximum is smaller. */
export const BACKOFF_MIN_MS = 500;

/** The delay before retry `attempt` (0-based): min·2^attempt capped at `maxMs`, then 50–100 % of it. */
export function jittered(
  attempt: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const base = backoffDelay({ minMs: Math.min(BACKOFF_MIN_MS, maxMs), maxMs }, attempt);
  return base / 2 + (base / 2) * random();
}
