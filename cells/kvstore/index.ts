export {
  KVStore,
  KVStoreDisabledError,
  type KVEvent,
  type KVLock,
  type KVStoreStatus,
  type KVWatch,
  type KVWatchHandler,
} from './kvstore.js';
