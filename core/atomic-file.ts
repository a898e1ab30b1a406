import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A failed state write: the path, what was being done, and the errno code (`ENOSPC`, `EROFS`). */
export class StateWriteError extends Error {
  override name = 'StateWriteError';
  readonly code: string;

  constructor(
    readonly path: string,
    readonly op: string,
    cause: unknown,
    /** Set when the new file is already in place (only syncing its directory failed). */
    readonly renamed = false,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    super(`cannot ${op} ${path}: ${code}${detail(cause)}`, { cause });
    this.code = code;
  }
}

function detail(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // Node's messages repeat the code and path; keep only what adds to them.
  const m = /^[A-Z]+: ([^,]+),/.exec(msg);
  return m?.[1] ? ` (${m[1]})` : '';
}

function step<T>(path: string, op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw e instanceof StateWriteError ? e : new StateWriteError(path, op, e);
  }
}

/** fsyncs a directory so entries created, renamed or removed in it are durable. */
export function fsyncDir(dir: string): void {
  const fd = step(dir, 'open directory', () =>
    openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY),
  );
  try {
    step(dir, 'fsync directory', () => {
      fsyncSync(fd);
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file atomically and durably: a fresh temporary file in the same directory (created
 * exclusively, never through a symlink), every byte written, fsync, rename over the target,
 * fsync of the directory. A crash leaves the old file or the new one, never a mix; any failure
 * removes the temporary file and throws a StateWriteError with the real errno.
 */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const dir = dirname(path);
  const existing = lstatOrUndefined(path);
  if (existing?.isSymbolicLink()) {
    throw new StateWriteError(
      path,
      'write',
      Object.assign(new Error('symlink'), { code: 'ELOOP' }),
    );
  }
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fd = step(tmp, 'create', () => openSync(tmp, flags, 0o600));
  let renamed = false;
  try {
    try {
      for (let off = 0; off < buf.length;) {
        const n = step(tmp, 'write', () => writeSync(fd, buf, off, buf.length - off));
        if (n <= 0) {
          throw new StateWriteError(tmp, 'write', Object.assign(new Error(), { code: 'EIO' }));
        }
        off += n;
      }
      step(tmp, 'fsync', () => {
        fsyncSync(fd);
      });
    } finally {
      closeSync(fd);
    }
    step(path, 'rename into', () => {
      renameSync(tmp, path);
    });
    renamed = true;
    try {
      fsyncDir(dir);
    } catch (e) {
      const w = e as StateWriteError;
      throw new StateWriteError(w.path, w.op, w.cause, true);
    }
  } finally {
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone, or the directory is unusable: nothing more to undo
      }
    }
  }
}

/**
 * Creates a directory (and missing parents, as `mkdir -p`) durably: each new entry's parent is
 * fsynced. Existing ancestors may be symlinks (`/var/run` → `/run`); the directory itself may
 * not be one.
 */
export function mkdirDurable(dir: string, mode = 0o700): void {
  const st = lstatOrUndefined(dir);
  if (st?.isDirectory()) return;
  if (st) {
    const code = st.isSymbolicLink() ? 'ELOOP' : 'ENOTDIR';
    throw new StateWriteError(dir, 'create directory', Object.assign(new Error(), { code }));
  }
  const parent = dirname(dir);
  if (parent !== dir && !existsSync(parent)) mkdirDurable(parent, mode);
  step(dir, 'create directory', () => {
    mkdirSync(dir, { mode });
  });
  fsyncDir(parent);
}

/** Removes a file or directory tree durably (absent is fine). */
export function removeDurable(path: string): void {
  step(path, 'remove', () => {
    rmSync(path, { recursive: true, force: true });
  });
  fsyncDir(dirname(path));
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateWriteError(path, 'inspect', e);
  }
}

/**
 * Reads a state file the agent wrote, refusing what it never writes: a symlink, a FIFO or
 * device (opened non-blocking, so one planted in place of the file cannot hang the agent), a
 * directory, or more than `maxBytes`. The error names the file's base name and why.
 */
export function readStateFile(path: string, maxBytes: number): string {
  const name = basename(path);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${name} is not a regular file`);
    if (st.size > maxBytes) throw new Error(`${name} is ${st.size} bytes, too large`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
