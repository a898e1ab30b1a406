import type { Health, Jobs, Lifecycle, Logger } from '../../core/hive/index.js';
import type { DaemonConfig } from '../daemon/index.js';
import type { KVStore, KvstoreConfig } from '../kvstore/index.js';
import { LocalIdentityAllocator, type IdentityAllocator } from './allocator.js';
import type { IdentityConfig } from './config.js';
import { KvstoreIdentityAllocator } from './kvstore-allocator.js';
import { IdentityGc } from './kvstore-gc.js';

/** What choosing the allocator needs. */
export interface AllocatorParams {
  /** Absent or disabled: the local allocator. */
  readonly kv: KVStore | undefined;
  readonly daemon: DaemonConfig;
  readonly config: IdentityConfig;
  /** The kvstore's flags: new labels wait for etcd up to --kvstore-connectivity-timeout. */
  readonly kvConfig: KvstoreConfig | undefined;
  readonly lifecycle: Lifecycle;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
}

/**
 * The local allocator, or with a kvstore the cluster-wide one: its watch runs from start to
 * stop, and a timer job collects unused identities every --identity-gc-interval.
 */
export function newIdentityAllocator(p: AllocatorParams): IdentityAllocator {
  const { kv } = p;
  if (!kv?.enabled || !p.kvConfig) return new LocalIdentityAllocator();
  const a = new KvstoreIdentityAllocator({
    kv,
    node: p.daemon.nodeName,
    logger: p.logger,
    health: p.health.scope('kvstore'),
    timeoutMs: p.kvConfig.kvstoreConnectivityTimeout,
  });
  p.lifecycle.append({ onStart: () => a.start(), onStop: () => a.stop() }, 'kvstore-identities');
  const gc = new IdentityGc(kv);
  p.jobs.timer(
    'gc',
    async ({ signal }) => {
      const round = await gc.run(signal);
      if (round.deleted.length > 0) {
        p.logger.info({ deleted: round.deleted }, 'identity GC: deleted unused identities');
      }
    },
    p.config.identityGcInterval,
    { controller: 'identity-gc' },
  );
  return a;
}
