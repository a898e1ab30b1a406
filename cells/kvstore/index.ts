export { kvstoreCell } from './cell.js';
export { KvstoreConfig } from './config.js';
export {
  KVStore,
  KVStoreDisabledError,
  KVStoreUnreachableError,
  type KVEvent,
  type KVLock,
  type KVStoreStatus,
  type KVWatch,
  type KVWatchHandler,
} from './kvstore.js';
