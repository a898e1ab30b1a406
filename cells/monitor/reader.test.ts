// The ring loop on an in-memory ring: records arrive in batches; a wait that fails (as
// epoll_wait on a bad fd does, at once and every time) is reported and the reader reopened after
// a backoff, never retried in a spin; the loop tells when it reads again.
import { expect, it } from 'vitest';
import {
  BpfError,
  memoryRingPush,
  openMap,
  openRingReader,
  type RawMap,
  type RingReader,
} from '../../core/bpf/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { eventsMapSpec } from '../maps/index.js';
import { startRingLoop } from './reader.js';

it('reopens a reader whose wait fails, after a backoff, and reads on', async () => {
  const ring = openMap(eventsMapSpec(4096), { backend: 'memory' }).raw;
  const BAD = 3;
  let opened = 0;
  let closed = 0;
  // The first BAD readers fail their first wait, as a reader whose epoll fd went bad.
  const open = (r: RawMap, onRecord: (b: Buffer) => void): RingReader => {
    const inner = openRingReader(r, onRecord);
    const bad = ++opened <= BAD;
    return {
      fd: inner.fd,
      consume: () => inner.consume(),
      wait: (ms) =>
        bad
          ? Promise.reject(new BpfError('wait for records', 9, { kind: 'map', name: 'x' }))
          : inner.wait(ms),
      close: () => {
        closed++;
        inner.close();
      },
    };
  };
  const errors: unknown[] = [];
  const got: Buffer[] = [];
  let recovered = 0;
  const loop = startRingLoop({
    ring,
    open,
    backoff: { minMs: 1, maxMs: 4 },
    onBatch: (b) => got.push(...b),
    onError: (e) => errors.push(e),
    onRecovered: () => recovered++,
  });
  await eventually(() => opened === BAD + 1);
  expect(errors).toHaveLength(BAD);
  expect(errors.every((e) => e instanceof BpfError && e.code === 'EBADF')).toBe(true);
  expect(closed).toBe(BAD); // each failed reader closed before the next was opened
  memoryRingPush(ring, Buffer.from('after'));
  await eventually(() => got.length === 1);
  expect(got[0]?.toString()).toBe('after');
  await eventually(() => recovered === 1);
  await loop.stop();
  expect(closed).toBe(BAD + 1);
  expect(opened).toBe(BAD + 1);
});
