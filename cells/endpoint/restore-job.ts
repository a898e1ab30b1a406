import type { Jobs } from '../../core/hive/index.js';
import type { DB, Table, WriteTxn } from '../../core/statedb/index.js';
import type { IpcacheEntry } from '../ipcache/index.js';
import type { Ipam } from '../ipam/index.js';
import type { EndpointManager } from './manager.js';
import type { Endpoint } from './model.js';

/** What the restore job holds closed until endpoints are back. */
export interface RestoreJobParams {
  readonly db: DB;
  readonly endpoints: Table<Endpoint>;
  readonly ipcache: Table<IpcacheEntry>;
  readonly ipam: Ipam;
  readonly jobs: Jobs;
  readonly m: EndpointManager;
}

/**
 * Restores endpoints in a job, holding closed from construction (before the API listens) what
 * must not act on a half-restored state: IPAM allocations, and the endpoint and ipcache tables'
 * initialization (their reconcilers prune only initialized tables, and must not remove the
 * entries of endpoints not restored yet). If restore fails, they stay closed.
 */
export function registerRestoreJob(p: RestoreJobParams): void {
  const done: ((w: WriteTxn) => void)[] = p.db.update([p.endpoints, p.ipcache], (w) => [
    w.registerInitializer(p.endpoints, 'endpoint-restore'),
    w.registerInitializer(p.ipcache, 'endpoint-restore'),
  ]);
  const releaseIpam = p.ipam.holdAllocations('endpoint restore');
  p.jobs.oneShot('restore-endpoints', async (ctx) => {
    await p.m.restore(ctx.signal);
    if (ctx.signal.aborted) return;
    releaseIpam();
    p.db.update([p.endpoints, p.ipcache], (w) => {
      for (const d of done) d(w);
    });
  });
}
