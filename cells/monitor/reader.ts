// Reading cellium_events without a busy loop and without blocking the event loop: wait for the
// ring to become readable (epoll_wait on a libuv worker thread for a kernel ring, the next push
// for a memory one), consume what is there on the main thread in one batch, yield a turn of the
// event loop, repeat. Idle, it wakes once per WAIT_MS to notice a stop.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { openRingReader, type RawMap } from '../../core/bpf/index.js';

/** How long one wait lasts: the longest a stop waits for the reader. */
export const WAIT_MS = 250;

/** A running ring reader. */
export interface RingLoop {
  /** Ends the loop once its current wait returns, and closes the reader. */
  stop(): Promise<void>;
}

/** Hands every record of `ring`, in batches, to `onBatch` until stopped. */
export function startRingLoop(p: {
  readonly ring: RawMap;
  readonly onBatch: (records: Buffer[]) => void;
  readonly onError: (e: unknown) => void;
}): RingLoop {
  let batch: Buffer[] = [];
  const reader = openRingReader(p.ring, (r) => batch.push(r));
  let stopping = false;
  const run = async (): Promise<void> => {
    while (!stopping) {
      try {
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
      await reader.wait(WAIT_MS);
    }
  };
  const done = run()
    .catch(p.onError)
    .finally(() => reader.close());
  return {
    async stop() {
      stopping = true;
      await done;
    },
  };
}
