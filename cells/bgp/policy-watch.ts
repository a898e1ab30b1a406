// Watches the peering policy file (core/watched-file.ts: fs.watch on its directory, which sees
// a ConfigMap's `..data` swap, and a periodic stat) and parses what it reads.
import { WatchedFile } from '../../core/watched-file.js';
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

/** Reads the policy file now and whenever it changes (a missing or bad file reported once). */
export class PolicyWatcher extends WatchedFile {
  constructor(p: PolicyWatchParams) {
    super({
      file: p.file,
      maxBytes: MAX_POLICY_FILE_BYTES,
      periodMs: p.periodMs,
      ...(p.settleMs !== undefined && { settleMs: p.settleMs }),
      reportOnce: true,
      onText: (text) => p.onPolicies(parsePolicyFile(text, p.file)),
      onError: (e, kind) => {
        if (kind === 'invalid') p.onError(e);
        else {
          const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e.message;
          p.onError(new Error(`${p.file}: ${why}`));
        }
      },
    });
  }
}
