import { setImmediate } from 'node:timers/promises';
import { filter, type Subscription } from 'rxjs';
import { backoffDelay, DEFAULT_BACKOFF, type Backoff } from '../hive/backoff.js';
import { Trigger } from '../hive/trigger.js';
import type { Health } from '../hive/health.js';
import type { JobContext, Jobs } from '../hive/jobs.js';
import type { DB, Table } from '../statedb/index.js';
import { statusDone, statusError, type Operations, type Status } from './operations.js';

/** Timing of a reconciler; defaults follow Cilium's reconciler. */
export interface ReconcilerConfig {
  readonly retry: Backoff;
  /** How often a full round (refresh + prune) runs. */
  readonly pruneIntervalMs: number;
  /** Done objects older than this are updated again in a full round. */
  readonly refreshIntervalMs: number;
  /** At most this many changes per incremental round. */
  readonly roundSize: number;
}

/** Cilium's defaults: retry 100 ms → 1 min, prune every hour, refresh after 30 min, 1000/round. */
export const DEFAULT_RECONCILER_CONFIG: ReconcilerConfig = {
  retry: DEFAULT_BACKOFF,
  pruneIntervalMs: 3_600_000,
  refreshIntervalMs: 1_800_000,
  roundSize: 1000,
};

/** What a reconciler needs. */
export interface ReconcilerParams<T> {
  readonly db: DB;
  readonly table: Table<T>;
  readonly ops: Operations<T>;
  readonly getStatus: (obj: T) => Status;
  /** Returns a copy of `obj` with `status` (objects are immutable). */
  readonly setStatus: (obj: T, status: Status) => T;
  readonly jobs: Jobs;
  readonly config?: Partial<ReconcilerConfig>;
  /** Told of every update and delete tried on the target, with its outcome, and of each prune. */
  readonly observe?: (e: ReconcileEvent<T>) => void;
  /** Where each round's duration and errors go (the metrics cell's, when the hive has it). */
  readonly metrics?: ReconcilerMetrics;
}

/**
 * Per-table reconciler metrics, as cilium/statedb's reconciler reports them: each incremental
 * round and each full round (refresh + prune) with its duration and the errors it met.
 */
export interface ReconcilerMetrics {
  /** An incremental round of `table`: seconds taken, errors met, objects failing after it. */
  incremental(table: string, seconds: number, errors: number, failing: number): void;
  /** A full round (refresh + prune) of `table`: seconds taken, errors met. */
  full(table: string, seconds: number, errors: number): void;
}

/**
 * One update or delete the reconciler tried (`error` is set when it failed), or a prune that
 * succeeded: the target then holds nothing the table does not want.
 */
export type ReconcileEvent<T> =
  | { readonly action: 'update' | 'delete'; readonly object: T; readonly error?: string }
  | { readonly action: 'prune' };

/** A running reconciler's handle. */
export interface Reconciler {
  /** Resolves once every change up to table revision `rev` has been tried. */
  waitUntilReconciled(rev: number): Promise<void>;
  /** Asks for a full round (refresh + prune) soon. */
  triggerFull(): void;
  /** Objects currently failing, by primary key. */
  failing(): ReadonlyMap<string, string>;
}

interface Retry<T> {
  attempt: number;
  due: number;
  /** Set when what failed was a delete. */
  deleted?: T;
}

interface Result {
  readonly key: string;
  readonly rev: number;
  readonly status: Status;
}

/** Registers a reconciler for `table` as a job of the calling cell; it runs while the cell runs. */
export function registerReconciler<T>(p: ReconcilerParams<T>): Reconciler {
  const cfg = { ...DEFAULT_RECONCILER_CONFIG, ...p.config };
  const { db, table, ops } = p;
  const key = (o: T): string => table.def.primaryKey(o);
  const retries = new Map<string, Retry<T>>();
  const errors = new Map<string, string>();
  const waiters: { rev: number; resolve: () => void }[] = [];
  let processedRev = 0;
  let fullRequested = true;
  let lastFull = 0;
  const trigger = new Trigger();

  /** Failed operations so far (what a round's error count is taken from). */
  let failures = 0;

  const fail = (k: string, rev: number, e: unknown, results: Result[], deleted?: T): void => {
    failures++;
    const prev = retries.get(k);
    const attempt = (prev?.attempt ?? -1) + 1;
    retries.set(k, {
      attempt,
      due: Date.now() + backoffDelay(cfg.retry, attempt),
      ...(deleted ? { deleted } : {}),
    });
    errors.set(k, e instanceof Error ? e.message : String(e));
    if (!deleted) results.push({ key: k, rev, status: statusError(e) });
  };

  // An observer's failure is its own: it never turns a done object into a failing one.
  const tell = (e: ReconcileEvent<T>): void => {
    try {
      p.observe?.(e);
    } catch {
      // ignored: see above
    }
  };
  const notify = (action: 'update' | 'delete', object: T, k: string): void => {
    const error = errors.get(k);
    tell(error === undefined ? { action, object } : { action, object, error });
  };

  const update = async (ctx: JobContext, obj: T, rev: number, results: Result[]): Promise<void> => {
    const k = key(obj);
    try {
      await ops.update({ signal: ctx.signal, txn: db.readTxn() }, obj);
      retries.delete(k);
      errors.delete(k);
      results.push({ key: k, rev, status: statusDone() });
    } catch (e) {
      fail(k, rev, e, results);
    }
    notify('update', obj, k);
  };

  /** The round's updates in one batch (ops.updateBatch), each object's outcome as its own. */
  const updateAll = async (
    ctx: JobContext,
    pending: readonly { obj: T; rev: number }[],
    results: Result[],
  ): Promise<void> => {
    let failed: ReadonlyMap<T, unknown>;
    try {
      failed =
        (await ops.updateBatch?.(
          { signal: ctx.signal, txn: db.readTxn() },
          pending.map((u) => u.obj),
        )) ?? new Map<T, unknown>();
    } catch (e) {
      failed = new Map(pending.map((u) => [u.obj, e] as const));
    }
    for (const { obj, rev } of pending) {
      const k = key(obj);
      if (failed.has(obj)) fail(k, rev, failed.get(obj), results);
      else {
        retries.delete(k);
        errors.delete(k);
        results.push({ key: k, rev, status: statusDone() });
      }
      notify('update', obj, k);
    }
  };

  const remove = async (ctx: JobContext, obj: T, results: Result[]): Promise<void> => {
    const k = key(obj);
    try {
      await ops.delete({ signal: ctx.signal, txn: db.readTxn() }, obj);
      retries.delete(k);
      errors.delete(k);
    } catch (e) {
      fail(k, 0, e, results, obj);
    }
    notify('delete', obj, k);
  };

  const writeBack = (results: readonly Result[]): void => {
    if (results.length === 0) return;
    db.update([table], (w) => {
      for (const r of results) {
        const cur = table.getEntry(w, r.key);
        // A newer write is pending and will be reconciled on its own.
        if (cur?.rev === r.rev) w.insert(table, p.setStatus(cur.obj, r.status));
      }
    });
  };

  const round = async (ctx: JobContext, it: ReturnType<Table<T>['changes']>): Promise<boolean> => {
    const t0 = performance.now();
    const failedBefore = failures;
    const txn = db.readTxn();
    const changes = it.next(txn, cfg.roundSize);
    const results: Result[] = [];
    const handled = new Set<string>();
    const pending: { obj: T; rev: number }[] = [];
    for (const c of changes) {
      const k = key(c.object);
      handled.add(k);
      if (c.deleted) await remove(ctx, c.object, results);
      else if (p.getStatus(c.object).kind === 'pending') {
        retries.delete(k);
        pending.push({ obj: c.object, rev: c.revision });
      }
    }
    if (ops.updateBatch && pending.length > 1) await updateAll(ctx, pending, results);
    else for (const u of pending) await update(ctx, u.obj, u.rev, results);
    const now = Date.now();
    for (const [k, r] of [...retries]) {
      if (r.due > now || handled.has(k)) continue;
      const cur = table.getEntry(txn, k);
      if (r.deleted) {
        if (cur) retries.delete(k);
        else await remove(ctx, r.deleted, results);
      } else if (!cur) {
        retries.delete(k);
        errors.delete(k);
      } else await update(ctx, cur.obj, cur.rev, results);
    }
    const more = changes.length >= cfg.roundSize;
    const t1 = performance.now();
    const incrementalErrors = failures - failedBefore;
    if (
      !more &&
      table.initialized(txn) &&
      (fullRequested || now - lastFull >= cfg.pruneIntervalMs)
    ) {
      fullRequested = false;
      lastFull = now;
      for (const obj of table.all(txn)) {
        const s = p.getStatus(obj);
        if (s.kind === 'done' && now - s.updatedAt.getTime() >= cfg.refreshIntervalMs) {
          const e = table.getEntry(txn, key(obj));
          if (e) await update(ctx, obj, e.rev, results);
        }
      }
      try {
        await ops.prune({ signal: ctx.signal, txn }, table.all(txn));
        errors.delete('(prune)');
        tell({ action: 'prune' });
      } catch (e) {
        failures++;
        errors.set('(prune)', e instanceof Error ? e.message : String(e));
      }
      p.metrics?.full(
        table.name,
        (performance.now() - t1) / 1000,
        failures - failedBefore - incrementalErrors,
      );
    }
    p.metrics?.incremental(table.name, (t1 - t0) / 1000, incrementalErrors, errors.size);
    writeBack(results);
    processedRev = Math.max(processedRev, it.lastRev);
    for (const w of waiters.splice(0)) {
      if (w.rev <= processedRev) w.resolve();
      else waiters.push(w);
    }
    report(ctx.health, table.count(txn));
    return more;
  };

  const report = (health: Health, count: number): void => {
    if (errors.size === 0) {
      health.ok(`${count} objects reconciled`);
      return;
    }
    const [k, msg] = [...errors][0] ?? ['', ''];
    health.degraded(`${errors.size} failing (${k}: ${msg})`, msg);
  };

  const nextDue = (): number => {
    let due = lastFull + cfg.pruneIntervalMs;
    for (const r of retries.values()) due = Math.min(due, r.due);
    return Math.max(0, due - Date.now());
  };

  p.jobs.oneShot(`reconcile-${table.name}`, async (ctx) => {
    const it = table.changes();
    const sub: Subscription = db.commits$
      .pipe(filter((names) => names.has(table.name)))
      .subscribe(() => {
        trigger.poke();
      });
    try {
      while (!ctx.signal.aborted) {
        const more = await round(ctx, it);
        // A backlog is worked off round by round, letting the event loop (the API) in between.
        if (more) await setImmediate();
        else await trigger.wait(nextDue(), ctx.signal);
      }
    } finally {
      sub.unsubscribe();
      it.close();
    }
  });

  return {
    waitUntilReconciled: (rev) =>
      rev <= processedRev
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiters.push({ rev, resolve });
          }),
    triggerFull: () => {
      fullRequested = true;
      trigger.poke();
    },
    failing: () => errors,
  };
}
