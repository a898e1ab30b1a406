import {
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  watch as fsWatch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { eventually } from './testing/test-hive.js';
import { WatchedFile, type WatchedFileParams } from './watched-file.js';

const HOUR = 3_600_000;

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cellium-watched-file-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function watched(file: string, o: Partial<WatchedFileParams> = {}) {
  const texts: string[] = [];
  const errors: string[] = [];
  const w = new WatchedFile({
    file,
    maxBytes: 64,
    periodMs: HOUR,
    onText: (t) => {
      if (t.startsWith('bad')) throw new Error(`invalid: ${t}`);
      texts.push(t);
    },
    onError: (e, kind) => errors.push(`${kind}: ${e.message}`),
    ...o,
  });
  onTestFinished(() => w.stop());
  return { w, texts, errors };
}

describe('a watched file', () => {
  it("follows a ConfigMap mount's ..data swap through fs.watch alone (the stat is an hour away)", async () => {
    const d = dir();
    mkdirSync(join(d, '..v1'));
    writeFileSync(join(d, '..v1', 'f'), 'one');
    symlinkSync('..v1', join(d, '..data'));
    symlinkSync(join('..data', 'f'), join(d, 'f'));
    const { w, texts } = watched(join(d, 'f'));
    w.start();
    expect(texts).toEqual(['one']);
    mkdirSync(join(d, '..v2'));
    writeFileSync(join(d, '..v2', 'f'), 'two');
    symlinkSync('..v2', join(d, '..data_tmp'));
    renameSync(join(d, '..data_tmp'), join(d, '..data'));
    await eventually(() => texts.at(-1) === 'two');
  });

  it('passes text once per change, and the same text again after an invalid one', () => {
    const file = join(dir(), 'f');
    const { w, texts, errors } = watched(file);
    writeFileSync(file, 'a');
    w.check(true);
    w.check(true);
    expect(texts).toEqual(['a']);
    writeFileSync(file, 'bad');
    w.check(true);
    expect(errors).toEqual(['invalid: invalid: bad']);
    writeFileSync(file, 'a');
    w.check(true);
    expect(texts).toEqual(['a', 'a']);
  });

  it('refuses a file over maxBytes or not regular; reportOnce keeps the periodic stat quiet', () => {
    const d = dir();
    const file = join(d, 'f');
    const loud = watched(file);
    const quiet = watched(file, { reportOnce: true });
    for (const { w } of [loud, quiet]) w.check(true);
    for (const { w } of [loud, quiet]) w.check(false);
    expect(loud.errors).toHaveLength(2);
    expect(quiet.errors).toHaveLength(1);
    expect(quiet.errors[0]).toMatch(/^read: ENOENT/);
    quiet.w.check(true); // a forced check (fs.watch saw something) always reports
    expect(quiet.errors).toHaveLength(2);

    writeFileSync(file, 'x'.repeat(65));
    loud.w.check(true);
    expect(loud.errors.at(-1)).toBe('read: 65 bytes, more than the 64 read');
    rmSync(file);
    mkdirSync(file);
    loud.w.check(true);
    expect(loud.errors.at(-1)).toBe('read: not a regular file');
    expect(loud.texts).toEqual([]);
  });

  it('reads an in-place rewrite (truncate, then write) once written, never the empty text', async () => {
    const d = dir();
    const file = join(d, 'f');
    writeFileSync(file, 'one');
    const { w, texts, errors } = watched(file);
    w.start();
    expect(texts).toEqual(['one']);
    // Registered after the watcher's: runs once the watcher has seen the truncation, and writes
    // the new text only then (as cp does, a moment later).
    let written = false;
    const own = fsWatch(d, () => {
      if (written) return;
      written = true;
      writeFileSync(file, 'two');
    });
    onTestFinished(() => own.close());
    writeFileSync(file, '');
    await eventually(() => texts.at(-1) === 'two');
    expect(texts).toEqual(['one', 'two']); // read at once, it was ['one', '', 'two']
    expect(errors).toEqual([]);
  });
});
