import { ApiError } from '../../core/api/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { Endpoint } from './model.js';
import { endpointKey } from './table.js';

/**
 * Waits until the datapath of endpoint `id` is realized (sync-build-endpoint), woken by
 * commits: resolves when its status is done; rejects at once when it failed in a way retrying
 * cannot fix (a full map, a vanished interface, no usable object), or after `timeoutMs`.
 */
export function waitRealized(
  db: DB,
  table: Table<Endpoint>,
  id: number,
  timeoutMs: number,
): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const settled = (): boolean => {
      const ep = table.get(db.readTxn(), endpointKey(id));
      if (!ep) reject(new ApiError(500, `endpoint ${id} was deleted while it was being built`));
      else if (ep.status.kind === 'done') resolve(ep);
      else if (ep.status.kind === 'error' && ep.status.permanent) {
        reject(new ApiError(500, `endpoint ${id} could not be built: ${ep.status.error ?? ''}`));
      } else return false;
      return true;
    };
    if (settled()) return;
    const sub = db.commits$.subscribe((names) => {
      if (names.has(table.name) && settled()) finish();
    });
    const timer = setTimeout(() => {
      const why = table.get(db.readTxn(), endpointKey(id))?.status.error ?? 'still pending';
      reject(new ApiError(500, `endpoint ${id} was not built in time: ${why}`));
      finish();
    }, timeoutMs);
    const finish = (): void => {
      sub.unsubscribe();
      clearTimeout(timer);
    };
  });
}
