import { module, provide, token } from '../../core/hive/index.js';
import { DB } from '../../core/statedb/index.js';

/** The agent's in-memory state database; cells create their tables in it. */
export const StateDB = token<DB>('statedb/DB');

/** The shared StateDB (tables of desired state that reconcilers turn into kernel state). */
export const statedbCell = module(
  'statedb',
  'In-memory state tables with revisions',
  provide(StateDB, {}, () => new DB()),
);
