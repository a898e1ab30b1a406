import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { mkdirDurable, StateWriteError, writeFileAtomic } from './atomic-file.js';
import { kernelSuite } from './testing/kernel.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'cellium-atomic-'));

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temporary file', () => {
    const d = fresh();
    const f = join(d, 'state.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, Buffer.from('two'));
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(readdirSync(d)).toEqual(['state.json']);
  });

  it('refuses to write through a symlink, and names the errno of a failure', () => {
    const d = fresh();
    writeFileSync(join(d, 'target'), 'keep');
    symlinkSync(join(d, 'target'), join(d, 'link'));
    expect(() => writeFileAtomic(join(d, 'link'), 'x')).toThrow(/cannot write .*link: ELOOP/);
    expect(readFileSync(join(d, 'target'), 'utf8')).toBe('keep');
    const missing = join(d, 'no-such-dir', 'f');
    const err = (() => {
      try {
        writeFileAtomic(missing, 'x');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StateWriteError);
    expect((err as StateWriteError).code).toBe('ENOENT');
    // Existing ancestors may be symlinks (as /var/run → /run), the directory itself not.
    mkdirSync(join(d, 'real'));
    symlinkSync(join(d, 'real'), join(d, 'run'));
    mkdirDurable(join(d, 'run', 'cellium', 'state'));
    expect(readdirSync(join(d, 'real', 'cellium'))).toEqual(['state']);
    symlinkSync('/etc', join(d, 'evil'));
    expect(() => {
      mkdirDurable(join(d, 'evil'));
    }).toThrow(/ELOOP/);
  });
});

kernelSuite('writeFileAtomic on a full disk', { commands: ['mount', 'umount'] }, () => {
  it('never commits a partial write: the old file stays whole, the temporary file goes', () => {
    const d = fresh();
    mkdirSync(join(d, 'disk'));
    const disk = join(d, 'disk');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', disk]);
    onTestFinished(() => {
      execFileSync('umount', ['-l', disk]);
    });
    const f = join(disk, 'state.json');
    writeFileAtomic(f, 'old');
    // More than fits: the kernel writes part of it, then says ENOSPC.
    expect(() => {
      writeFileAtomic(f, Buffer.alloc(64 * 1024, 'x'));
    }).toThrow(/ENOSPC/);
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(readdirSync(disk)).toEqual(['state.json']);
  });
});
