// An in-memory K8sResources for cell tests: the real tables, filled by the test, synced when the
// test says so. (Reflectors against a real API server, or the tests' API server double, are the
// cross-cell tests' business.)
import type { DB, WriteTxn } from '../../core/statedb/index.js';
import { waitFor } from '../../core/statedb/index.js';
import { newK8sTables, type K8sTables } from './tables.js';
import { objectKey, type K8sObject, type K8sResource, type K8sResources } from './types.js';

/** K8sResources whose tables a test writes and whose sync it sets. */
export interface MemoryK8sResources extends K8sResources {
  readonly tables: K8sTables;
  /** Marks resources synced (all when no name is given). */
  setSynced(...names: (keyof K8sTables)[]): void;
  /** Inserts or replaces objects in a table. */
  upsert<K extends keyof K8sTables>(name: K, ...objs: ReturnType<K8sTables[K]['get']>[]): void;
  /** Deletes objects (by their key) from a table. */
  remove(name: keyof K8sTables, ...objs: K8sObject[]): void;
}

/** Creates the in-memory resources in `db`; `enabled` as a Kubernetes-mode agent would say. */
export function newMemoryK8sResources(db: DB, enabled = true): MemoryK8sResources {
  const tables = newK8sTables(db);
  const names = Object.keys(tables) as (keyof K8sTables)[];
  // Each table stays uninitialized until the test marks it synced, as a reflector's until its list.
  const done = new Map<keyof K8sTables, (txn: WriteTxn) => void>();
  db.update(
    names.map((n) => tables[n]),
    (txn) => {
      for (const n of names) {
        const t = tables[n] as unknown as K8sResource<K8sObject>['table'];
        done.set(n, txn.registerInitializer(t, 'memory-reflector'));
      }
    },
  );
  const isSynced = (name: keyof K8sTables): boolean => tables[name].initialized(db.readTxn());
  const resource = <T extends K8sObject>(name: keyof K8sTables): K8sResource<T> => {
    const table = tables[name] as unknown as K8sResource<T>['table'];
    return {
      table,
      synced: () => isSynced(name),
      waitSynced: (signal) =>
        waitFor(
          db,
          table,
          () => (isSynced(name) ? true : undefined),
          Number.POSITIVE_INFINITY,
          () => new Error('never'),
          signal,
        ).then(() => undefined),
    };
  };
  const res = Object.fromEntries(names.map((n) => [n, resource(n)])) as unknown as Omit<
    K8sResources,
    'enabled'
  >;
  return {
    enabled,
    ...res,
    tables,
    setSynced(...which) {
      const list = which.length > 0 ? which : names;
      db.update(
        list.map((n) => tables[n]),
        (txn) => {
          for (const n of list) {
            done.get(n)?.(txn);
            done.delete(n);
          }
        },
      );
    },
    upsert(name, ...objs) {
      const t = tables[name] as unknown as K8sResource<K8sObject>['table'];
      db.update([t], (txn) => {
        for (const o of objs) if (o) txn.insert(t, o);
      });
    },
    remove(name, ...objs) {
      const t = tables[name] as unknown as K8sResource<K8sObject>['table'];
      db.update([t], (txn) => {
        for (const o of objs) txn.deleteKey(t, objectKey(o));
      });
    },
  };
}
