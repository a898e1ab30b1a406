// Watches the peering policy file: fs.watch on its directory (editors and ConfigMap updates
// replace the file by rename, which a watch on the file itself would miss) and a periodic stat
// for what fs.watch misses (network filesystems, a directory created later).
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parsePolicyFile, type PeeringPolicy } from './policy-file.js';

/** The largest policy file read (1 MiB: thousands of neighbors). */
export const MAX_POLICY_FILE_BYTES = 1 << 20;

/** What a PolicyWatcher reports to. */
export interface PolicyWatchParams {
  readonly file: string;
  /** A valid file whose text changed. */
  readonly onPolicies: (policies: readonly PeeringPolicy[]) => void;
  /** The file cannot be used (missing, unreadable, invalid): the last good policies stay. */
  readonly onError: (e: Error) => void;
  /** How often the file is stat'ed besides fs.watch. */
  readonly periodMs: number;
  /** How long the file must stay unchanged before a change is read (default 200 ms). */
  readonly settleMs?: number;
}

/** The file's text; invalid UTF-8 is refused rather than read as U+FFFD into names. */
function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('not UTF-8 text');
  }
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

/** Reads the policy file now and whenever it changes. */
export class PolicyWatcher {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private settle?: NodeJS.Timeout;
  /** The file's stamp when the settle timer was armed. */
  private settling = '';
  private forceNext = false;
  private stamp = '';
  private lastText?: string;
  private failed = false;

  constructor(private readonly p: PolicyWatchParams) {}

  /** Reads the file (a missing one is reported, and read once it appears) and starts watching. */
  start(): void {
    this.check(true);
    try {
      this.watcher = watch(dirname(this.p.file), (_ev, name) => {
        // A mounted ConfigMap is updated by swapping its `..data` link, not the file's own.
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

  /**
   * The file changed: it is read once it stayed the same for settleMs. Written in place (cp,
   * `>`, most editors' default) it is first truncated: read at once, the empty file would be a
   * valid file of no policies, and every session would be torn down (Cease 3) and its routes
   * withdrawn. A storm of rewrites is read once, when it ends. `force`: as check's.
   */
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

  /** Re-reads the file if its inode, size or mtime changed (always with `force`). */
  check(force: boolean): void {
    let text: string;
    try {
      const st = statSync(this.p.file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (!force && stamp === this.stamp) return;
      this.stamp = stamp;
      if (!st.isFile()) throw new Error('not a regular file');
      if (st.size > MAX_POLICY_FILE_BYTES) {
        throw new Error(`${st.size} bytes, more than the ${MAX_POLICY_FILE_BYTES} read`);
      }
      text = utf8(readFileSync(this.p.file));
    } catch (e) {
      this.stamp = '';
      if (this.failed && !force) return; // reported already; the stat keeps looking
      this.failed = true;
      const why =
        (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
      this.p.onError(new Error(`${this.p.file}: ${why}`));
      return;
    }
    if (text === this.lastText && !this.failed) return;
    try {
      const policies = parsePolicyFile(text, this.p.file);
      this.lastText = text;
      this.failed = false;
      this.p.onPolicies(policies);
    } catch (e) {
      this.lastText = undefined;
      this.failed = true;
      this.p.onError(e as Error);
    }
  }
}
