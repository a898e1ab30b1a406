/** Exponential backoff: min·2^attempt, capped at max. */
export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
}

/** The reconciler's and jobs' default: 100 ms doubling up to one minute (as Cilium's). */
export const DEFAULT_BACKOFF: Backoff = { minMs: 100, maxMs: 60_000 };

/** The wait before retry number `attempt` (0-based). */
export function backoffDelay(b: Backoff, attempt: number): number {
  return Math.min(b.maxMs, b.minMs * 2 ** Math.min(attempt, 30));
}

/** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
