// The prefilter's state on disk: the deny list with its revision, and where the program was last
// attached. Written atomically and durably before a change is acknowledged, so an acknowledged
// PATCH or DELETE survives a restart (and a reboot, which empties bpffs).
import { lstatSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDir, mkdirDurable, readStateFile, writeFileAtomic } from '../../core/atomic-file.js';
import type { XdpMode } from '../../core/bpf/index.js';
import { parseDenyCidr } from './cidr.js';

/** Where the XDP program was attached, so a later run can take it off a device it left. */
export interface Attachment {
  readonly device: string;
  readonly ifindex: number;
  readonly mode: XdpMode;
  /** The kernel's id of the program: only that program is ever detached. */
  readonly progId: number;
}

/** What the state file holds. */
export interface PrefilterState {
  readonly revision: number;
  /** Canonical CIDRs. */
  readonly deny: readonly string[];
  readonly attached?: Attachment;
}

/** What loading found: the state, or nothing, and what was wrong with the file, if anything. */
export interface Loaded {
  readonly state: PrefilterState | undefined;
  /** Set when the file was unreadable or invalid; it was moved aside to `keptAside`. */
  readonly problem?: string;
  readonly keptAside?: string;
}

function problemOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const s = v as Record<string, unknown>;
  if (!Number.isSafeInteger(s.revision) || (s.revision as number) < 1) {
    return 'revision is not a positive integer';
  }
  if (!Array.isArray(s.deny)) return 'deny is not a list';
  for (const c of s.deny) {
    if (typeof c !== 'string') return 'deny holds a value that is not a string';
    const p = parseDenyCidr(c);
    if ('problem' in p) return `deny: ${p.problem}`;
    if (p.text !== c) return `deny: ${JSON.stringify(c)} is not canonical (${p.text})`;
  }
  const a = s.attached;
  if (a !== undefined) {
    const at = a as Record<string, unknown>;
    if (
      typeof at.device !== 'string' ||
      !Number.isSafeInteger(at.ifindex) ||
      (at.mode !== 'native' && at.mode !== 'generic') ||
      !Number.isSafeInteger(at.progId)
    ) {
      return 'attached is not {device, ifindex, mode, progId}';
    }
  }
  return undefined;
}

/** Whether anything (even a dangling symlink) is at `path`. */
function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The state file `<state-dir>/prefilter.json`. */
export class PrefilterStore {
  /** The largest file a list of `maxCidrs` per family makes (a CIDR takes under 64 bytes). */
  private readonly maxBytes: number;

  constructor(
    readonly path: string,
    maxCidrs: number,
  ) {
    this.maxBytes = 4096 + 2 * maxCidrs * 64;
  }

  /**
   * Reads the state. A file that cannot be read or is invalid is moved aside (never deleted) to
   * `<file>.invalid-<time>` and reported, so the operator can look at it.
   */
  load(): Loaded {
    if (!exists(this.path)) return { state: undefined };
    let problem: string | undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readStateFile(this.path, this.maxBytes));
      problem = problemOf(parsed);
    } catch (e) {
      problem = e instanceof Error ? e.message : String(e);
    }
    if (problem === undefined) return { state: parsed as PrefilterState };
    const aside = `${this.path}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(this.path, aside);
    fsyncDir(dirname(this.path));
    return { state: undefined, problem, keptAside: aside };
  }

  /** Writes the state; returns once it is durable (throws StateWriteError otherwise). */
  save(state: PrefilterState): void {
    mkdirDurable(dirname(this.path));
    writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`);
  }
}
