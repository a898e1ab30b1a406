import { ApiError } from '../../core/api/index.js';
import { token } from '../../core/hive/index.js';
import { statusPending } from '../../core/reconciler/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import { normalizePrefix, type IpcacheEntry, type IpcacheSource } from './table.js';

/** What a data source says about a prefix. */
export interface IpcacheUpsert {
  readonly prefix: string;
  readonly identity: number;
  readonly source: IpcacheSource;
  readonly hostIP?: string;
  readonly encryptKey?: number;
  readonly namespace?: string;
  readonly name?: string;
}

/** How data sources (endpoints now, Kubernetes and the kvstore later) change the ipcache. */
export interface IpcacheWriter {
  upsert(e: IpcacheUpsert): void;
  /** Upserts many in one transaction (restore publishes thousands at once). */
  upsertAll(es: readonly IpcacheUpsert[]): void;
  delete(prefix: string): boolean;
}

/** The ipcache writer. */
export const IpcacheWriter = token<IpcacheWriter>('ipcache/IpcacheWriter');

/** Writes desired entries as pending; the reconciler takes them to the map. */
export function newIpcacheWriter(db: DB, table: Table<IpcacheEntry>): IpcacheWriter {
  const key = (prefix: string): string => {
    const k = normalizePrefix(prefix);
    if (!k) throw new ApiError(400, `'${prefix}' is not an IP or CIDR`);
    return k;
  };
  const upsertAll = (es: readonly IpcacheUpsert[]): void => {
    const rows = es.map((e) => ({ e, prefix: key(e.prefix) }));
    db.update([table], (w) => {
      for (const { e, prefix } of rows) {
        const old = table.get(w, prefix);
        const next: IpcacheEntry = {
          prefix,
          identity: e.identity,
          hostIP: e.hostIP ?? '',
          encryptKey: e.encryptKey ?? 0,
          source: e.source,
          ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
          ...(e.name !== undefined ? { name: e.name } : {}),
          status: statusPending(),
        };
        const unchanged =
          old &&
          old.identity === next.identity &&
          old.hostIP === next.hostIP &&
          old.source === next.source &&
          old.namespace === next.namespace &&
          old.name === next.name &&
          old.status.kind === 'done';
        if (!unchanged) w.insert(table, next); // unchanged: nothing to reconcile
      }
    });
  };
  return {
    upsert(e) {
      upsertAll([e]);
    },
    upsertAll,
    delete(prefix) {
      const k = key(prefix);
      return db.update([table], (w) => w.deleteKey(table, k) !== undefined);
    },
  };
}
