import { token } from '../../core/hive/index.js';
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
