import { ApiError } from './registry.js';

/** How long a write waits at a closed gate before answering 503 (restore takes seconds at most). */
export const GATE_WAIT_MS = 15_000;

/**
 * A condition that API writes wait for while the agent restores its state (endpoints, IPs).
 * Closed gates hold callers; past `maxWaitMs` they answer 503 with Retry-After, so a client
 * never acts on half-restored state and never hangs.
 */
export class Gate {
  private reasons = new Set<string>();
  private waiters: (() => void)[] = [];

  /** Closes the gate for `reason`; the returned function opens it again (once). */
  hold(reason: string): () => void {
    this.reasons.add(reason);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reasons.delete(reason);
      if (this.reasons.size === 0) for (const w of this.waiters.splice(0)) w();
    };
  }

  /** Why the gate is closed, or undefined when it is open. */
  closedBy(): string | undefined {
    return this.reasons.size === 0 ? undefined : [...this.reasons].join(', ');
  }

  /** Resolves at once when open; otherwise when it opens, or throws 503 after `maxWaitMs`. */
  pass(maxWaitMs = GATE_WAIT_MS): Promise<void> {
    const why = this.closedBy();
    if (why === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(
          new ApiError(503, `the agent is still starting (${this.closedBy() ?? why}); retry`, {
            'Retry-After': '1',
          }),
        );
      }, maxWaitMs);
      this.waiters.push(done);
    });
  }
}
