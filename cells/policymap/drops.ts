// Drops the datapath reports in cellium_events, read by a timer job: the last ones kept for
// inspection (/debuginfo), each one offered to subscribers (the monitor, tests).
import { Subject, type Observable } from 'rxjs';
import { openRingReader, type RingReader } from '../../core/bpf/index.js';
import { token, type Jobs, type Lifecycle, type Logger } from '../../core/hive/index.js';
import { decodeDropEvent, type DropEvent } from './maps.js';
import type { PolicyMaps } from './policymaps.js';

/** Drops reported by the datapath. */
export interface DropEvents {
  readonly drops$: Observable<DropEvent>;
  /** The most recent drops, oldest first. */
  recent(): readonly DropEvent[];
  /** Reads what the ring holds now (the job does it every 100 ms). */
  poll(): number;
}

/** Drops reported by the datapath. */
export const DropEvents = token<DropEvents>('policymap/DropEvents');

const KEEP = 1024;

/** Reads cellium_events while the cell runs. */
export function newDropEvents(p: {
  readonly maps: PolicyMaps;
  readonly jobs: Jobs;
  readonly lifecycle: Lifecycle;
  readonly logger: Logger;
}): DropEvents {
  const subject = new Subject<DropEvent>();
  const kept: DropEvent[] = [];
  let reader: RingReader | undefined;
  const poll = (): number => {
    if (!reader && p.maps.running) {
      reader = openRingReader(p.maps.events(), (buf) => {
        const ev = decodeDropEvent(buf);
        if (!ev) return;
        kept.push(ev);
        if (kept.length > KEEP) kept.splice(0, kept.length - KEEP);
        subject.next(ev);
      });
    }
    return reader?.consume() ?? 0;
  };
  p.lifecycle.append(
    {
      onStop: () => {
        reader?.close();
        reader = undefined;
      },
    },
    'drop-events',
  );
  p.jobs.timer('read-events', () => void poll(), 100);
  return { drops$: subject.asObservable(), recent: () => kept, poll };
}
