import { BehaviorSubject } from 'rxjs';
import { KVStoreDisabledError, type KVStore, type KVStoreStatus } from './kvstore.js';

const DISABLED: KVStoreStatus = { state: 'Disabled', msg: 'Disabled' };
const WHY = 'no kvstore configured (--kvstore is empty)';

const rejected = (): Promise<never> => Promise.reject(new KVStoreDisabledError(WHY));

/** The KVStore of an agent without one (`--kvstore ''`): every call throws KVStoreDisabledError. */
export function disabledKVStore(): KVStore {
  return {
    enabled: false,
    get: rejected,
    list: rejected,
    put: rejected,
    create: rejected,
    delete: rejected,
    deleteIfValue: rejected,
    lock: rejected,
    watch: () => {
      throw new KVStoreDisabledError(WHY);
    },
    status: () => DISABLED,
    status$: new BehaviorSubject(DISABLED).asObservable(),
  };
}
