// A small configuration file followed as it changes: fs.watch on its directory (editors replace
// files by rename and a mounted ConfigMap swaps its `..data` link, both missed by a watch on the
// file itself) plus a periodic stat for what fs.watch misses (network filesystems, a directory
// created later). A change is read once the file has settled: written in place (cp, `>`, most
// editors) a file is first truncated, and read at once the empty text would replace the last
// good configuration. Only a regular file of at most maxBytes is read: a FIFO or /dev/zero
// would block or fill the agent.
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** What a WatchedFile reads and whom it tells. */
export interface WatchedFileParams {
  readonly file: string;
  /** The largest file read; a larger one is a read error. */
  readonly maxBytes: number;
  /** How often the file is stat'ed besides fs.watch. */
  readonly periodMs: number;
  /** New text, or the same text again after an error; a throw is reported as `invalid`. */
  readonly onText: (text: string) => void;
  /** The file could not be read (`read`: the errno error, or why it was refused) or used. */
  readonly onError: (e: Error, kind: 'read' | 'invalid') => void;
  /** Report a read error the periodic stat sees again only once (forced checks always report). */
  readonly reportOnce?: boolean;
  /** How long the file must stay unchanged before a change is read (default 200 ms). */
  readonly settleMs?: number;
}

/** What identifies a version of the file: inode, size and mtime ('' when it cannot be stat'ed). */
function stampOf(file: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

/** The file's text; invalid UTF-8 is refused rather than read as U+FFFD into names. */
function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('not UTF-8 text');
  }
}

/** Reads a file now and whenever it changes; the caller parses it (onText). */
export class WatchedFile {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private settle?: NodeJS.Timeout;
  /** The file's stamp when the settle timer was armed. */
  private settling = '';
  private forceNext = false;
  private stamp = '';
  private lastText?: string;
  private failed = false;
  private readFailed = false;

  constructor(private readonly p: WatchedFileParams) {}

  /** Reads the file (a missing one is reported, and read once it appears) and starts watching. */
  start(): void {
    this.check(true);
    try {
      this.watcher = watch(dirname(this.p.file), (_ev, name) => {
        if (name === null || name === basename(this.p.file) || name.startsWith('..')) {
          this.changed(true);
        }
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // No directory yet: the timer still looks.
    }
    this.timer = setInterval(() => {
      if (this.settle === undefined && stampOf(this.p.file) !== this.stamp) this.changed(false);
    }, this.p.periodMs);
    this.timer.unref();
  }

  /** The file changed: read once it stayed the same for settleMs (a storm of writes, once). */
  private changed(force: boolean): void {
    clearTimeout(this.settle);
    this.settling = stampOf(this.p.file);
    this.forceNext ||= force;
    this.settle = setTimeout(() => {
      this.settle = undefined;
      if (stampOf(this.p.file) !== this.settling) {
        this.changed(false);
        return;
      }
      const f = this.forceNext;
      this.forceNext = false;
      this.check(f);
    }, this.p.settleMs ?? 200);
    this.settle.unref();
  }

  /** Stops watching. */
  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    clearTimeout(this.settle);
    this.watcher = undefined;
    this.timer = undefined;
    this.settle = undefined;
    this.forceNext = false;
  }

  /** Re-reads the file now if its inode, size or mtime changed (always with `force`). */
  check(force: boolean): void {
    const max = this.p.maxBytes;
    let text: string;
    try {
      const st = statSync(this.p.file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (!force && stamp === this.stamp) return;
      this.stamp = stamp;
      if (!st.isFile()) throw new Error('not a regular file');
      if (st.size > max) throw new Error(`${st.size} bytes, more than the ${max} read`);
      const bytes = readFileSync(this.p.file);
      // It may have grown between the stat and the read.
      if (bytes.length > max) throw new Error(`more than the ${max} bytes read`);
      text = utf8(bytes);
    } catch (e) {
      this.stamp = '';
      const again = this.readFailed;
      this.failed = this.readFailed = true;
      if (again && !force && this.p.reportOnce === true) return;
      this.p.onError(e as Error, 'read');
      return;
    }
    this.readFailed = false;
    if (text === this.lastText && !this.failed) return;
    try {
      this.p.onText(text);
      this.lastText = text;
      this.failed = false;
    } catch (e) {
      this.lastText = undefined;
      this.failed = true;
      this.p.onError(e as Error, 'invalid');
    }
  }
}
