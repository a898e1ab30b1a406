import type { Health, Lifecycle, Logger } from '../../core/hive/index.js';
import { etcdTarget, type KvstoreConfig } from './config.js';
import { disabledKVStore } from './disabled.js';
import { LazyKVStore } from './lazy.js';
import type { KVStore } from './kvstore.js';

/** What the kvstore needs from the hive. */
export interface KVStoreParams {
  readonly config: KvstoreConfig;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}

/**
 * The configured kvstore: disabled without --kvstore, else etcd. Its start hook only begins
 * connecting (the agent starts with etcd down); its stop hook revokes the session lease.
 */
export function newKVStore(p: KVStoreParams): KVStore {
  if (p.config.kvstore === '') {
    p.health.ok('Disabled');
    return disabledKVStore();
  }
  // Read at construction: a bad etcd.config stops the agent before anything starts.
  const target = etcdTarget(p.config.kvstoreOpt);
  const store = new LazyKVStore(async () => {
    const { EtcdStore } = await import('./etcd.js');
    return new EtcdStore({
      target,
      leaseTtlMs: p.config.kvstoreLeaseTtl,
      connectivityTimeoutMs: p.config.kvstoreConnectivityTimeout,
      logger: p.logger.child({ subsys: 'kvstore' }),
      health: p.health,
    });
  });
  p.lifecycle.append({ onStart: () => store.start(), onStop: () => store.stop() }, 'etcd');
  return store;
}
