/**
 * A coalescing wake-up for loops: `poke()` any number of times; `wait()` returns at once if
 * poked since the last wait, otherwise on the next poke, after `ms`, or when `signal` aborts.
 */
export class Trigger {
  private pending = false;
  private wake: (() => void) | undefined;

  /** Wakes the waiter, or makes the next wait return at once. */
  poke(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Waits for a poke, the timeout or the abort, whichever comes first. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.pending && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
    this.pending = false;
  }
}
