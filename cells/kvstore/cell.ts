import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  provide,
} from '../../core/hive/index.js';
import { StatusContributors } from '../daemon/index.js';
import { KvstoreConfig, kvstoreFlags, parseKvstoreOpts } from './config.js';
import { KVStore } from './kvstore.js';
import { newKVStore } from './store.js';

/** The cluster's shared store (etcd), or a disabled one in embedded mode. */
export const kvstoreCell = module(
  'kvstore',
  'Cluster-wide keys in etcd: session lease, watches, locks',
  // --kvstore, --kvstore-opt, --kvstore-lease-ttl, --kvstore-connectivity-timeout
  config(KvstoreConfig, kvstoreFlags),
  // Disabled without --kvstore; else an etcd client that connects in the background.
  provide(
    KVStore,
    { config: KvstoreConfig, lifecycle: Lifecycle, health: Health, logger: Logger },
    newKVStore,
  ),
  // /healthz kvstore (Cilium's "etcd: 1/1 connected, ..."); /config kvstoreConfiguration.
  invoke(
    'status',
    { status: StatusContributors, store: KVStore, config: KvstoreConfig },
    ({ status, store, config: c }) => {
      if (!store.enabled) return;
      status.add({
        status: (s) => {
          s.kvstore = store.status();
        },
        config: (s) => {
          s.kvstoreConfiguration = { type: c.kvstore, options: parseKvstoreOpts(c.kvstoreOpt) };
        },
      });
    },
  ),
);
