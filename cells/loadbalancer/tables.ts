import { token } from '../../core/hive/index.js';
import { isUnspecified, twoScopes } from './expand.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { Backend, Frontend, Service } from './model.js';

/** The load balancer's tables (read them; write through the LbWriter). */
export interface LbTables {
  /** By service key (`namespace/name`). */
  readonly services: Table<Service>;
  /** By address key; indexes `service` (service key) and `id` (service id). */
  readonly frontends: Table<Frontend>;
  /** By backend key; index `service` (the services that use it). */
  readonly backends: Table<Backend>;
}

/** The key of the `expands` index. */
export const EXPANDS = 'yes';

/** Whether a frontend's entries go beyond its own key. */
export function expands(f: Frontend): boolean {
  return (
    ((f.type === 'NodePort' || f.type === 'HostPort') && isUnspecified(f.address.ip)) ||
    twoScopes(f)
  );
}

/** The load balancer's tables. */
export const LbTables = token<LbTables>('loadbalancer/LbTables');

/** Creates the three tables. */
export function newLbTables(db: DB): LbTables {
  return {
    services: db.newTable<Service>({ name: 'services', primaryKey: (s) => s.key }),
    frontends: db.newTable<Frontend>({
      name: 'frontends',
      primaryKey: (f) => f.key,
      indexes: [
        { name: 'service', key: (f) => f.serviceKey, unique: false },
        { name: 'id', key: (f) => String(f.id), unique: true },
        // Frontends whose entries go beyond their own key (NodePort on 0.0.0.0, two scopes):
        // the few a new frontend is checked against.
        { name: 'expands', key: (f) => (expands(f) ? [EXPANDS] : []), unique: false },
      ],
    }),
    backends: db.newTable<Backend>({
      name: 'backends',
      primaryKey: (b) => b.key,
      indexes: [
        {
          name: 'service',
          key: (b) => [...new Set(b.instances.map((i) => i.serviceKey))],
          unique: false,
        },
      ],
    }),
  };
}
