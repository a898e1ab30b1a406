// Undoing a multi-step change that failed half-way: each step that created something pushes how
// to remove it; on failure they run newest first, so nothing created is left behind, and
// nothing that was there before is touched (a step that failed pushed nothing).

/** An undo step that failed too: what it was meant to undo and why it could not. */
export interface UndoFailure {
  readonly what: string;
  readonly error: unknown;
}

/** The change failed and so did part of undoing it: the original error is the cause. */
export class UndoError extends Error {
  override readonly name = 'UndoError';

  constructor(
    cause: unknown,
    /** The undo steps that failed, newest first. */
    readonly failures: readonly UndoFailure[],
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const undo = failures.map(
      (f) => `${f.what}: ${f.error instanceof Error ? f.error.message : String(f.error)}`,
    );
    super(`${why}; undoing it also failed: ${undo.join('; ')}`, { cause });
  }
}

/** A stack of undo steps; see withUndo. */
export class Undo {
  private readonly steps: { what: string; fn: () => void }[] = [];

  /** Registers how to remove what was just created (`what` names it for errors). */
  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }

  /** Runs every step newest first, each even when an earlier one failed; returns the failures. */
  run(): UndoFailure[] {
    const failures: UndoFailure[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        step.fn();
      } catch (error) {
        failures.push({ what: step.what, error });
      }
    }
    return failures;
  }
}

/**
 * Runs `fn` with an undo stack. If fn throws, the steps run (newest first) and the error is
 * rethrown unchanged, or as an UndoError (cause: the error) if some step failed too. If fn
 * returns, the steps are dropped: what it created stays.
 */
export function withUndo<T>(fn: (undo: Undo) => T): T {
  const undo = new Undo();
  try {
    return fn(undo);
  } catch (e) {
    const failures = undo.run();
    if (failures.length > 0) throw new UndoError(e, failures);
    throw e;
  }
}
