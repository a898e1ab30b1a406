// Reading cellium_events without a busy loop and without blocking the event loop: wait for the
// ring to become readable (epoll_wait on a libuv worker thread for a kernel ring, the next push
// for a memory one), consume what is there on the main thread in one batch, yield a turn of the
// event loop, repeat. Idle, it wakes once per WAIT_MS to notice a stop. A wait that fails (a bad
// epoll fd: not a signal, which only ends a wait early) is reported, and the reader reopened
// after a backoff: never a spin on an error that comes back at once.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { openRingReader, type RawMap, type RingReader } from '../../core/bpf/index.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type Backoff } from '../../core/hive/index.js';

/** How long one wait lasts: the longest a stop waits for the reader. */
export const WAIT_MS = 250;

/** A running ring reader. */
export interface RingLoop {
  /** Ends the loop once its current wait (or backoff) returns, and closes the reader. */
  stop(): Promise<void>;
}

/** What the loop needs; `open` and `backoff` are for tests. */
export interface RingLoopParams {
  readonly ring: RawMap;
  readonly onBatch: (records: Buffer[]) => void;
  /** A consume or a wait failed (the loop goes on: after a backoff for a failed wait). */
  readonly onError: (e: unknown) => void;
  /** A wait succeeded again after a failed one. */
  readonly onRecovered?: () => void;
  readonly open?: (ring: RawMap, onRecord: (r: Buffer) => void) => RingReader;
  readonly backoff?: Backoff;
}

/** Hands every record of `ring`, in batches, to `onBatch` until stopped. */
export function startRingLoop(p: RingLoopParams): RingLoop {
  const open = p.open ?? openRingReader;
  const backoff = p.backoff ?? { minMs: DEFAULT_BACKOFF.minMs, maxMs: 10_000 };
  let batch: Buffer[] = [];
  const collect = (r: Buffer): void => {
    batch.push(r);
  };
  let reader: RingReader | undefined = open(p.ring, collect);
  let stopping = false;
  const stopped = new AbortController();
  const run = async (): Promise<void> => {
    let failures = 0;
    while (!stopping) {
      try {
        reader ??= open(p.ring, collect);
        reader.consume();
      } catch (e) {
        p.onError(e);
      }
      if (batch.length > 0) {
        const b = batch;
        batch = [];
        p.onBatch(b);
        await nextTurn(); // let the API and the clients' sockets have their turn
        continue;
      }
      if (!reader) {
        await sleep(backoffDelay(backoff, failures++), stopped.signal);
        continue;
      }
      try {
        await reader.wait(WAIT_MS);
        if (failures > 0) {
          failures = 0;
          p.onRecovered?.();
        }
      } catch (e) {
        p.onError(e);
        // The same fd would fail again at once: a new reader (a new epoll fd), after a pause.
        reader.close();
        reader = undefined;
        await sleep(backoffDelay(backoff, failures++), stopped.signal);
      }
    }
  };
  const done = run()
    .catch(p.onError)
    .finally(() => reader?.close());
  return {
    async stop() {
      stopping = true;
      stopped.abort();
      await done;
    },
  };
}
