// Ring buffers (BPF_MAP_TYPE_RINGBUF): how datapath events (policy drops...) reach the agent.
// A BPF program writes records with bpf_ringbuf_output or reserve/submit; a RingReader hands
// each one, copied, to a callback. The kernel backend reads through libbpf's ring_buffer (the
// map mmapped, no syscall per record); the memory backend reads what memoryRingPush wrote.
import { struct, type Layout } from './codec.js';
import { BpfError, check, E, type BpfTarget } from './errors.js';
import { EpollWaitError, epollWait, libbpf, registerRingSample } from './libbpf.js';
import { FaultyMap } from './map.faulty.js';
import { mapFd } from './map.kernel.js';
import { memoryRingTake, memoryRingWait } from './map.memory.js';
import { mapSpec, MapType, type MapSpec, type RawMap } from './map.js';

/** Reads records a BPF program wrote into a ring buffer map. */
export interface RingReader {
  /** Hands every record available now to `onRecord` (a copy of its bytes), without blocking; returns how many. */
  consume(): number;
  /** A file descriptor that becomes readable (epoll) when records are waiting, or -1 (memory backend). */
  readonly fd: number;
  /**
   * Waits, without blocking the event loop or spinning, until records wait (true) or
   * `timeoutMs` passed (false): epoll_wait on a libuv worker thread for a kernel ring, the next
   * push for a memory one. One wait at a time; close() only once it has settled. Rejects
   * (BpfError) when epoll_wait fails for another reason than a signal (EINTR: false).
   */
  wait(timeoutMs: number): Promise<boolean>;
  close(): void;
}

/** The smallest ring the kernel accepts: one page (4 KiB on x86-64 and most arm64 kernels). */
export const RING_MIN_BYTES = 4096;

// A ring buffer has neither key nor value: both are this empty struct.
const none: Layout<never> = struct<never>('cellium_ringbuf_none', []);

/**
 * Declares a ring buffer map of `sizeBytes` bytes (records and their 8-byte headers), which the
 * kernel wants a power of two multiple of the page size. Open it with openMap as any map; its
 * BpfMap has no entries (the kernel refuses lookups and iteration): read it with
 * openRingReader(map.raw, ...).
 */
export function ringBufSpec(name: string, sizeBytes: number): MapSpec<never, never> {
  if (
    !Number.isInteger(sizeBytes) ||
    sizeBytes < RING_MIN_BYTES ||
    sizeBytes > 2 ** 31 ||
    (sizeBytes & (sizeBytes - 1)) !== 0
  ) {
    throw new Error(
      `ring buffer ${name}: size must be a power of two from ${RING_MIN_BYTES} bytes, not ${sizeBytes}`,
    );
  }
  return mapSpec({ name, type: MapType.RingBuf, key: none, value: none, maxEntries: sizeBytes });
}

/**
 * Starts reading a ring buffer map. `onRecord` runs inside consume(), once per record in the
 * order they were written. If it throws, consume() stops there and rethrows (that record is
 * consumed; the ones after it wait for the next consume()). The reader does not own the map:
 * close both.
 */
export function openRingReader(map: RawMap, onRecord: (data: Buffer) => void): RingReader {
  if (map.type !== MapType.RingBuf) {
    throw new Error(`map ${map.name} is not a ring buffer (type ${String(map.type)})`);
  }
  let m = map;
  while (m instanceof FaultyMap) m = m.inner; // faults are injected into entries, which rings lack
  return m.backend === 'kernel' ? kernelReader(m, onRecord) : memoryReader(m, onRecord);
}

function closedError(map: RawMap): Error {
  return new Error(`ring buffer reader of ${map.name} is closed`);
}

function memoryReader(map: RawMap, onRecord: (data: Buffer) => void): RingReader {
  let closed = false;
  return {
    fd: -1,
    consume() {
      if (closed) throw closedError(map);
      let n = 0;
      // As libbpf: records written meanwhile (by onRecord itself) are read in the same call.
      for (let r = memoryRingTake(map); r !== undefined; r = memoryRingTake(map)) {
        onRecord(r);
        n++;
      }
      return n;
    },
    wait(timeoutMs) {
      if (closed) return Promise.reject(closedError(map));
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          cancel();
          resolve(false);
        }, timeoutMs);
        const cancel = memoryRingWait(map, () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    close() {
      closed = true;
    },
  };
}

function kernelReader(map: RawMap, onRecord: (data: Buffer) => void): RingReader {
  const lib = libbpf();
  const t: BpfTarget = { kind: 'map', name: map.name };
  let count = 0;
  // What onRecord threw, kept until consume() returns: nothing may unwind into libbpf.
  let failure: { error: unknown } | undefined;
  const takeFailure = (): { error: unknown } | undefined => {
    const f = failure;
    failure = undefined;
    return f;
  };
  const sample = registerRingSample(
    (data) => {
      onRecord(data);
      count++;
      return 0;
    },
    (error) => {
      failure = { error };
    },
  );
  let rb: unknown;
  let epollFd: number;
  try {
    rb = lib.ring_buffer__new(mapFd(map), sample.ptr, null, null);
    if (!rb) throw new BpfError('read ring buffer', lib.errno() || E.EINVAL, t);
    epollFd = check(lib.ring_buffer__epoll_fd(rb), 'read ring buffer', t);
  } catch (e) {
    if (rb) lib.ring_buffer__free(rb);
    sample.unregister();
    throw e;
  }
  let closed = false;
  return {
    fd: epollFd,
    consume() {
      if (closed) throw closedError(map);
      count = 0;
      const r = lib.ring_buffer__consume(rb);
      const failed = takeFailure();
      if (failed) throw failed.error;
      check(r, 'consume', t);
      return count;
    },
    async wait(timeoutMs) {
      if (closed) throw closedError(map);
      try {
        return (await epollWait(epollFd, timeoutMs)) > 0;
      } catch (e) {
        if (!(e instanceof EpollWaitError)) throw e;
        // A signal came first: as good as a timeout, the caller waits again. Anything else
        // (EBADF, EINVAL) would fail the same way at once, every time: the caller must hear it.
        if (e.errno === E.EINTR) return false;
        throw new BpfError('wait for records', e.errno, t);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      // Freed first: libbpf calls the callback no more once its ring buffer is gone.
      lib.ring_buffer__free(rb);
      sample.unregister();
    },
  };
}
