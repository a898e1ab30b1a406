// Ring buffers in the kernel: testdata/ringbuf_test.c, compiled with clang here, writes records
// when run with BPF_PROG_TEST_RUN on a crafted frame; a RingReader reads them through libbpf's
// ring_buffer. Root and clang (core/testing/kernel.ts); every pin, fd and file is removed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { kernelSuite, testPinDir } from '../testing/kernel.js';
import { mapFd, mapInfo } from './map.kernel.js';
import { memoryRingPush } from './map.memory.js';
import { loadObject, testRun } from './object.js';
import { openMap, type OpenMapOptions } from './open.js';
import { openRingReader, ringBufSpec } from './ringbuf.js';

const SOURCE = fileURLToPath(new URL('./testdata/ringbuf_test.c', import.meta.url));
// The map the object declares, which the test's own map replaces (by name).
const MAP = 'cellium_rb_test';
const XDP_DROP = 1;
const XDP_PASS = 2;

/** A frame asking for `events` events, with `head` (8 bytes) after the count. */
function frame(events: number, head = 'abcdefgh', length = 64): Buffer {
  const f = Buffer.alloc(length);
  f[0] = events;
  f.write(head, 1, 8, 'latin1');
  return f;
}

/** One struct rb_event as the program writes it. */
function event(seq: number, frameLen: number, head: string): string {
  const e = Buffer.alloc(16);
  e.writeUInt32LE(seq, 0);
  e.writeUInt32LE(frameLen, 4);
  e.write(head, 8, 8, 'latin1');
  return e.toString('hex');
}

const TAIL = Buffer.from('tail!').toString('hex');

kernelSuite('ring buffers in the kernel', { commands: ['clang'] }, () => {
  let pins: ReturnType<typeof testPinDir>;
  let build: string;
  let object: string;

  beforeAll(() => {
    pins = testPinDir();
    build = mkdtempSync(join(tmpdir(), 'cellium-ringbuf-'));
    object = join(build, 'ringbuf_test.o');
    // As datapath-c/Makefile builds the datapath: the system's libbpf headers, BTF on.
    const multiarch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
    execFileSync('clang', [
      '-O2',
      '-g',
      '-target',
      'bpf',
      '-Wall',
      '-Werror',
      `-I/usr/include/${multiarch}`,
      '-c',
      SOURCE,
      '-o',
      object,
    ]);
  });
  afterAll(() => {
    pins.cleanup();
    rmSync(build, { recursive: true, force: true });
  });

  /** The test's ring buffer (pinned under the test's own directory), closed when it finishes. */
  function ring(size: number, opts: Partial<OpenMapOptions> = {}) {
    const m = openMap(ringBufSpec(MAP, size), { backend: 'kernel', ...opts });
    onTestFinished(() => m.close());
    return m;
  }

  /** The program's fd, its object loaded with `m` as its ring and unloaded when the test ends. */
  function writer(m: ReturnType<typeof ring>): number {
    const obj = loadObject(object, [m.raw]);
    onTestFinished(() => obj.close());
    return obj.program('rb_emit');
  }

  it('reads the records a program wrote, in order, at their own size', () => {
    const m = ring(16384);
    const prog = writer(m);
    const got: string[] = [];
    const reader = openRingReader(m.raw, (b) => got.push(b.toString('hex')));
    onTestFinished(() => reader.close());
    expect(reader.consume()).toBe(0);

    expect(testRun(prog, frame(3)).retval).toBe(XDP_PASS);
    expect(testRun(prog, frame(1, 'zyxwvuts', 80)).retval).toBe(XDP_PASS);
    expect(reader.consume()).toBe(6);
    expect(got).toEqual([
      event(0, 64, 'abcdefgh'),
      event(1, 64, 'abcdefgh'),
      event(2, 64, 'abcdefgh'),
      TAIL,
      event(0, 80, 'zyxwvuts'),
      TAIL,
    ]);
    expect(reader.consume()).toBe(0);
  });

  it('has an epoll fd watching the ring, gone once the reader is closed', () => {
    const m = ring(4096);
    const reader = openRingReader(m.raw, () => undefined);
    const fdinfo = `/proc/self/fdinfo/${reader.fd}`;
    expect(reader.fd).toBeGreaterThanOrEqual(0);
    // An epoll fd lists the fds it watches as `tfd:` lines.
    expect(readFileSync(fdinfo, 'utf8')).toMatch(/^tfd:/m);
    reader.close();
    reader.close();
    expect(() => reader.consume()).toThrow(/reader of cellium_rb_test is closed/);
  });

  it('refuses records once full, counting bytes as the memory backend does', () => {
    const m = ring(4096);
    const prog = writer(m);
    const reader = openRingReader(m.raw, () => undefined);
    onTestFinished(() => reader.close());
    // 200 runs of one 16-byte event and one 5-byte tail: far more than 4 KiB.
    expect(testRun(prog, frame(1), { repeat: 200 }).retval).toBe(XDP_DROP);
    const kernelCount = reader.consume();
    const mem = openMap(ringBufSpec(MAP, 4096), { backend: 'memory' });
    let memoryCount = 0;
    for (let run = 0; run < 200; run++) {
      for (const size of [16, 5]) if (memoryRingPush(mem.raw, Buffer.alloc(size))) memoryCount++;
    }
    expect(kernelCount).toBe(memoryCount);
    expect(kernelCount).toBe(204); // 102 runs of 40 bytes: 4080 of 4096
    // Read, the ring takes records again.
    expect(testRun(prog, frame(1)).retval).toBe(XDP_PASS);
    expect(reader.consume()).toBe(2);
  });

  it('stops at a record whose callback throws, rethrows, and reads the rest next time', () => {
    const m = ring(4096);
    const prog = writer(m);
    const seen: string[] = [];
    const reader = openRingReader(m.raw, (b) => {
      seen.push(b.toString('hex'));
      if (seen.length === 2) throw new Error('bad record');
    });
    onTestFinished(() => reader.close());
    testRun(prog, frame(3));
    expect(() => reader.consume()).toThrow('bad record');
    expect(seen).toHaveLength(2);
    expect(reader.consume()).toBe(2);
    expect(seen.slice(2)).toEqual([event(2, 64, 'abcdefgh'), TAIL]);
  });

  it('pinned: reopened with its records; replaced by an empty one when its size changes', () => {
    const log: string[] = [];
    const opts = {
      pinDir: pins.dir,
      log: (msg: string, outcome: string) => log.push(`${outcome}: ${msg}`),
    };
    const path = join(pins.dir, MAP);
    onTestFinished(() => rmSync(path, { force: true }));
    const first = ring(4096, opts);
    expect(existsSync(path)).toBe(true);
    testRun(writer(first), frame(1));
    first.close(); // the program's object still holds it; the pin does too

    const again = ring(4096, opts);
    const got: string[] = [];
    const reader = openRingReader(again.raw, (b) => got.push(b.toString('hex')));
    onTestFinished(() => reader.close());
    expect(reader.consume()).toBe(2);
    expect(got).toEqual([event(0, 64, 'abcdefgh'), TAIL]);
    testRun(writer(again), frame(2)); // left unread

    const bigger = ring(8192, opts);
    expect(mapInfo(mapFd(bigger.raw), MAP).max_entries).toBe(8192);
    const fresh = openRingReader(bigger.raw, () => undefined);
    onTestFinished(() => fresh.close());
    expect(fresh.consume()).toBe(0);
    expect(existsSync(`${path}_prev`)).toBe(false);
    expect(log).toEqual([
      `created: created and pinned ${path}`,
      `reused: reopened pinned map ${path}`,
      `migrated: ring buffer ${MAP} at ${path} replaced by an empty one of 8192 bytes (was 4096): a ring has no entries to carry, records not read yet are dropped`,
    ]);
  });
});
