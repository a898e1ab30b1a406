import { filter, type Subscription } from 'rxjs';
import type { Health, Jobs, Logger } from '../../core/hive/index.js';
import type { Status } from '../../core/reconciler/index.js';
import type { DB, Table, WriteTxn } from '../../core/statedb/index.js';
import type { IpcacheEntry } from '../ipcache/index.js';
import type { Ipam } from '../ipam/index.js';
import type { EndpointManager } from './manager.js';
import type { Endpoint } from './model.js';
import { formatSplit, RestoreClock } from './restore-split.js';

/** What the restore job holds closed until endpoints are back. */
export interface RestoreJobParams {
  readonly db: DB;
  readonly endpoints: Table<Endpoint>;
  readonly ipcache: Table<IpcacheEntry>;
  readonly ipam: Ipam;
  readonly jobs: Jobs;
  readonly m: EndpointManager;
  readonly health: Health;
  readonly logger: Logger;
}

/**
 * Restores endpoints in a job, holding closed from construction (before the API listens) what
 * must not act on a half-restored state: IPAM allocations, and the endpoint and ipcache tables'
 * initialization (their reconcilers prune only initialized tables, and must not remove the
 * entries of endpoints not restored yet). If restore fails, they stay closed. Once the
 * reconcilers have tried every restored row, where the restart's time went is logged and
 * added to the `endpoint.restore` health message.
 */
export function registerRestoreJob(p: RestoreJobParams): void {
  const done: ((w: WriteTxn) => void)[] = p.db.update([p.endpoints, p.ipcache], (w) => [
    w.registerInitializer(p.endpoints, 'endpoint-restore'),
    w.registerInitializer(p.ipcache, 'endpoint-restore'),
  ]);
  const releaseIpam = p.ipam.holdAllocations('endpoint restore');
  p.jobs.oneShot('restore-endpoints', async (ctx) => {
    const clock = new RestoreClock();
    // Restored IPs are checked against the pod CIDRs: with IPAM mode kubernetes, they come later.
    await p.ipam.ready(ctx.signal);
    const outcome = await p.m.restore(ctx.signal, clock);
    if (ctx.signal.aborted) return;
    releaseIpam();
    p.db.update([p.endpoints, p.ipcache], (w) => {
      for (const d of done) d(w);
    });
    if (!(await reconciled(p, ctx.signal))) return;
    const split = clock.finish(outcome.restored);
    p.logger.info({ ...split }, 'endpoint restore timing');
    const message = `${outcome.message}; ${formatSplit(split)}`;
    const health = p.health.scope('restore');
    if (outcome.degraded) health.degraded(message);
    else health.ok(message);
  });
}

/**
 * Resolves true once every row of both tables pending now has been tried by its reconciler
 * (done, or failing and retried), or deleted; false if the agent stops first. Woken by
 * commits, never by polling.
 */
function reconciled(p: RestoreJobParams, signal: AbortSignal): Promise<boolean> {
  const txn = p.db.readTxn();
  const waiting = [
    pendingKeys(p.endpoints, txn, (e) => e.status),
    pendingKeys(p.ipcache, txn, (e) => e.status),
  ] as const;
  const settled = (): boolean => {
    const now = p.db.readTxn();
    return (
      drain(waiting[0], p.endpoints, now, (e) => e.status) &&
      drain(waiting[1], p.ipcache, now, (e) => e.status)
    );
  };
  if (settled()) return Promise.resolve(true);
  return new Promise((resolve) => {
    let sub: Subscription | undefined = undefined;
    const finish = (done: boolean): void => {
      sub?.unsubscribe();
      signal.removeEventListener('abort', stopped);
      resolve(done);
    };
    const stopped = (): void => {
      finish(false);
    };
    sub = p.db.commits$
      .pipe(filter((names) => names.has(p.endpoints.name) || names.has(p.ipcache.name)))
      .subscribe(() => {
        if (settled()) finish(true);
      });
    signal.addEventListener('abort', stopped, { once: true });
  });
}

type Txn = ReturnType<DB['readTxn']>;

function pendingKeys<T>(table: Table<T>, txn: Txn, status: (o: T) => Status): Set<string> {
  const keys = new Set<string>();
  for (const o of table.all(txn))
    if (status(o).kind === 'pending') keys.add(table.def.primaryKey(o));
  return keys;
}

/**
 * Drops the keys no longer pending; true when none is left. Reconcilers work in commit order,
 * so it stops at the first one still pending: the rest are checked at a later commit.
 */
function drain<T>(keys: Set<string>, table: Table<T>, txn: Txn, status: (o: T) => Status): boolean {
  for (const k of keys) {
    const o = table.get(txn, k);
    if (o !== undefined && status(o).kind === 'pending') return false;
    keys.delete(k);
  }
  return true;
}
