// Ring buffers on the memory backend (no root): what a test double or an in-memory datapath
// pushes is read in order, a full ring refuses as the kernel's does, a closed reader reads no
// more. ringbuf.kernel.test.ts runs the same reader on the kernel's rings.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { struct } from './codec.js';
import { BpfError, E } from './errors.js';
import { mapSpec, MapType } from './map.js';
import { FaultyMap } from './map.faulty.js';
import { EpollWaitError, epollWait, libbpfStatus } from './libbpf.js';
import { memoryRingPush, ringRecordBytes, unpinMemoryMaps } from './map.memory.js';
import { openMap } from './open.js';
import { openRingReader, ringBufSpec } from './ringbuf.js';

const PINS = `/memory/ringbuf-test-${randomBytes(3).toString('hex')}`;
afterAll(() => unpinMemoryMaps(PINS));

function ring(size = 4096) {
  return openMap(ringBufSpec('events', size), { backend: 'memory' });
}

describe('ringBufSpec', () => {
  it('takes power-of-two sizes of at least a page, with no key or value', () => {
    const s = ringBufSpec('events', 65536);
    expect(s).toMatchObject({ name: 'events', type: MapType.RingBuf, maxEntries: 65536 });
    expect([s.key.size, s.element.size]).toEqual([0, 0]);
    for (const bad of [0, 1000, 2048, 4095, 6144, 4096.5, 2 ** 32]) {
      expect(() => ringBufSpec('events', bad)).toThrow(/power of two from 4096 bytes/);
    }
  });

  it('is refused by the memory backend in sizes the kernel refuses', () => {
    const e = (() => {
      try {
        openMap(ringBufSpec('events', 4096), { backend: 'memory', maxEntries: 6144 });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(BpfError);
    expect((e as BpfError).errno).toBe(E.EINVAL);
  });
});

describe('a ring buffer in memory', () => {
  it('hands records over in the order they were pushed, copied, once', () => {
    const m = ring();
    const got: Buffer[] = [];
    const reader = openRingReader(m.raw, (b) => got.push(b));
    expect(reader.fd).toBe(-1);
    expect(reader.consume()).toBe(0);
    const first = Buffer.from('first');
    for (const b of [first, Buffer.from('second record'), Buffer.alloc(0), Buffer.alloc(9, 7)]) {
      expect(memoryRingPush(m.raw, b)).toBe(true);
    }
    first.write('FIRST'); // the ring keeps its own copy, as the kernel's does
    expect(reader.consume()).toBe(4);
    expect(got.map((b) => b.toString('hex'))).toEqual([
      Buffer.from('first').toString('hex'),
      Buffer.from('second record').toString('hex'),
      '',
      '07'.repeat(9),
    ]);
    expect(reader.consume()).toBe(0);
    reader.close();
    m.close();
  });

  it('refuses a record that does not fit, as the kernel counts: 8-byte header, data to 8', () => {
    const m = ring(4096);
    expect(ringRecordBytes(0)).toBe(8);
    expect(ringRecordBytes(5)).toBe(16);
    expect(ringRecordBytes(16)).toBe(24);
    // 24 bytes each; the kernel keeps the records waiting under the ring's size (at most 4095).
    let n = 0;
    while (memoryRingPush(m.raw, Buffer.alloc(16, n))) n++;
    expect(n).toBe(Math.floor(4095 / 24));
    expect(memoryRingPush(m.raw, Buffer.alloc(0))).toBe(true); // 8 bytes still fit
    expect(memoryRingPush(m.raw, Buffer.alloc(0))).toBe(false);
    const reader = openRingReader(m.raw, () => undefined);
    expect(reader.consume()).toBe(n + 1);
    // Read, the space is free again; one record can never take the whole ring.
    expect(memoryRingPush(m.raw, Buffer.alloc(4088))).toBe(false);
    expect(memoryRingPush(m.raw, Buffer.alloc(4080))).toBe(true);
    expect(memoryRingPush(m.raw, Buffer.alloc(1))).toBe(false);
    reader.close();
    m.close();
  });

  it('stops at a record whose callback throws, rethrows, and keeps the rest for later', () => {
    const m = ring();
    for (const s of ['a', 'b', 'c']) memoryRingPush(m.raw, Buffer.from(s));
    const seen: string[] = [];
    const reader = openRingReader(m.raw, (b) => {
      seen.push(b.toString());
      if (b.toString() === 'b') throw new Error('bad record');
    });
    expect(() => reader.consume()).toThrow('bad record');
    expect(seen).toEqual(['a', 'b']);
    expect(reader.consume()).toBe(1);
    expect(seen).toEqual(['a', 'b', 'c']);
    reader.close();
    m.close();
  });

  it('reads no more once closed; the records wait for another reader', () => {
    const m = ring();
    const reader = openRingReader(m.raw, () => undefined);
    reader.close();
    reader.close(); // twice is fine
    memoryRingPush(m.raw, Buffer.from('later'));
    expect(() => reader.consume()).toThrow(/reader of events is closed/);
    const got: string[] = [];
    const next = openRingReader(m.raw, (b) => got.push(b.toString()));
    expect(next.consume()).toBe(1);
    expect(got).toEqual(['later']);
    next.close();
    m.close();
  });

  it('has no entries: lookups, updates and iteration are refused as the kernel refuses them', () => {
    const m = ring();
    const k = Buffer.alloc(0);
    for (const op of [
      () => m.raw.lookup(k, Buffer.alloc(0)),
      () => m.raw.update(k, Buffer.alloc(0), 'any'),
      () => m.raw.delete(k),
      () => m.raw.nextKey(null, Buffer.alloc(0)),
      () => m.raw.count(),
      () => [...m.raw.dump()],
    ]) {
      expect(op).toThrow(BpfError);
      expect(op).toThrow(/ENOTSUPP/);
    }
    m.close();
  });

  it('is read and written through a FaultyMap wrapper, and only a ring buffer is', () => {
    const m = openMap(ringBufSpec('events', 4096), {
      backend: 'memory',
      wrap: (raw) => new FaultyMap(raw),
    });
    expect(memoryRingPush(m.raw, Buffer.from('x'))).toBe(true);
    const reader = openRingReader(m.raw, () => undefined);
    expect(reader.consume()).toBe(1);
    reader.close();
    const hash = openMap(
      mapSpec({
        name: 'not_a_ring',
        type: MapType.Hash,
        key: struct<{ k: number }>('k', [['k', 'u32']]),
        value: struct<{ v: number }>('v', [['v', 'u32']]),
        maxEntries: 4,
      }),
      { backend: 'memory' },
    );
    expect(() => openRingReader(hash.raw, () => undefined)).toThrow(/not a ring buffer/);
    expect(() => memoryRingPush(hash.raw, Buffer.from('x'))).toThrow(/not an in-memory ring/);
  });

  it('pinned: reopened with its records, replaced by an empty one when its size changes', () => {
    const log: string[] = [];
    const open = (size: number) =>
      openMap(ringBufSpec('events', size), {
        backend: 'memory',
        pinDir: PINS,
        log: (msg, outcome) => log.push(`${outcome}: ${msg}`),
      });
    const a = open(4096);
    memoryRingPush(a.raw, Buffer.from('kept'));
    a.close();
    const b = open(4096);
    const got: string[] = [];
    const reader = openRingReader(b.raw, (r) => got.push(r.toString()));
    expect(reader.consume()).toBe(1);
    expect(got).toEqual(['kept']);
    reader.close();
    memoryRingPush(b.raw, Buffer.from('dropped'));
    b.close();
    const c = open(8192);
    expect(c.raw.maxEntries).toBe(8192);
    expect(openRingReader(c.raw, () => undefined).consume()).toBe(0);
    expect(log).toEqual([
      `created: created and pinned ${PINS}/events`,
      `reused: reopened pinned map ${PINS}/events`,
      `migrated: ring buffer events at ${PINS}/events replaced by an empty one of 8192 bytes (was 4096): a ring has no entries to carry, records not read yet are dropped`,
    ]);
  });
});

describe('epoll_wait (what a kernel ring reader waits in)', () => {
  it.skipIf(!libbpfStatus().ok)(
    'rejects with the errno when it fails: EINVAL for an fd that is no epoll fd, EBADF for none',
    async () => {
      const fd = openSync('/dev/null', 'r');
      try {
        const e = await epollWait(fd, 0).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(EpollWaitError);
        expect((e as EpollWaitError).errno).toBe(E.EINVAL);
      } finally {
        closeSync(fd);
      }
      const bad = await epollWait(1 << 20, 0).catch((x: unknown) => x);
      expect((bad as EpollWaitError).errno).toBe(E.EBADF);
    },
  );
});
