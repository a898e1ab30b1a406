import type { ReadTxn } from '../statedb/index.js';

/** Where an object is in being realized: written by data sources as pending, then by the reconciler. */
export type StatusKind = 'pending' | 'done' | 'error';

/** The reconcile status kept on each desired-state object (so `status` shows it). */
export interface Status {
  readonly kind: StatusKind;
  readonly updatedAt: Date;
  readonly error?: string;
  /** Set when retrying cannot help by itself (a full map, a missing device, an unusable program). */
  readonly permanent?: boolean;
}

/**
 * An operation failure that retrying will not fix on its own. The reconciler still retries it
 * (the operator may fix the cause), but whoever waits for the object can give up at once.
 */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/** A fresh pending status, for writers of desired state. */
export function statusPending(): Status {
  return { kind: 'pending', updatedAt: new Date() };
}

/** A done status. */
export function statusDone(): Status {
  return { kind: 'done', updatedAt: new Date() };
}

/** An error status with its message. */
export function statusError(err: unknown): Status {
  return {
    kind: 'error',
    updatedAt: new Date(),
    error: err instanceof Error ? err.message : String(err),
    ...(err instanceof PermanentError ? { permanent: true } : {}),
  };
}

/** What an operation receives: a cancellation signal and the snapshot it was called in. */
export interface OpContext {
  readonly signal: AbortSignal;
  readonly txn: ReadTxn;
}

/**
 * How desired objects become target state (BPF maps, routes...). Operations are idempotent:
 * updating what is already right and deleting what is absent both succeed.
 */
export interface Operations<T> {
  update(ctx: OpContext, obj: T): void | Promise<void>;
  delete(ctx: OpContext, obj: T): void | Promise<void>;
  /** Removes target state that no desired object accounts for. */
  prune(ctx: OpContext, desired: Iterable<T>): void | Promise<void>;
  /**
   * Updates many objects at once (a round's worth), where the target is faster written in bulk;
   * returns the objects that failed, with their errors (the others succeeded).
   */
  updateBatch?(
    ctx: OpContext,
    objs: readonly T[],
  ): ReadonlyMap<T, unknown> | Promise<ReadonlyMap<T, unknown>>;
}
