export { kvstoreCell } from './cell.js';
export { KvstoreConfig } from './config.js';
export {
  KVStore,
  KVStoreDisabledError,
  type KVEvent,
  type KVLock,
  type KVStoreStatus,
  type KVWatch,
  type KVWatchHandler,
} from './kvstore.js';
export { KVStoreUnreachableError } from './client.js';
