import { ApiError } from '../../core/api/index.js';
import { waitFor, type DB, type Table } from '../../core/statedb/index.js';
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
  return waitFor(
    db,
    table,
    () => {
      const ep = table.get(db.readTxn(), endpointKey(id));
      if (!ep) throw new ApiError(500, `endpoint ${id} was deleted while it was being built`);
      if (ep.status.kind === 'done') return ep;
      if (ep.status.kind === 'error' && ep.status.permanent) {
        throw new ApiError(500, `endpoint ${id} could not be built: ${ep.status.error ?? ''}`);
      }
      return undefined;
    },
    timeoutMs,
    () => {
      const why = table.get(db.readTxn(), endpointKey(id))?.status.error ?? 'still pending';
      return new ApiError(500, `endpoint ${id} was not built in time: ${why}`);
    },
  );
}
