import type { Health, Jobs, Lifecycle, Logger } from '../../core/hive/index.js';
import type { DaemonConfig } from '../daemon/index.js';
import type { K8sClient, K8sResources } from '../k8s/index.js';
import type { KVStore, KvstoreConfig } from '../kvstore/index.js';
import { LocalIdentityAllocator, type IdentityAllocator } from './allocator.js';
import type { IdentityConfig } from './config.js';
import { CrdIdentityAllocator } from './crd-allocator.js';
import { k8sIdentityStore } from './crd-store.js';
import { KvstoreIdentityAllocator } from './kvstore-allocator.js';
import { IdentityGc } from './kvstore-gc.js';

/** What choosing the allocator needs. */
export interface AllocatorParams {
  /** Absent or disabled: the local allocator (or CiliumIdentity objects in Kubernetes mode). */
  readonly kv: KVStore | undefined;
  readonly daemon: DaemonConfig;
  readonly config: IdentityConfig;
  /** The kvstore's flags: new labels wait for etcd up to --kvstore-connectivity-timeout. */
  readonly kvConfig: KvstoreConfig | undefined;
  /** The API server (Kubernetes mode when enabled). */
  readonly k8s: K8sClient | undefined;
  /** The reflected CiliumIdentity objects. */
  readonly resources: K8sResources | undefined;
  readonly lifecycle: Lifecycle;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
}

/** Which allocator the flags and modes give: Cilium's rules, local when neither store is there. */
export function allocationMode(p: {
  readonly k8s: boolean;
  readonly kvstore: boolean;
  readonly mode: IdentityConfig['identityAllocationMode'];
}): 'local' | 'kvstore' | 'crd' {
  if (p.k8s && (p.mode === 'crd' || !p.kvstore)) return 'crd';
  return p.kvstore ? 'kvstore' : 'local';
}

/**
 * The local allocator; with a kvstore the cluster-wide one (its watch runs from start to stop,
 * and a timer job collects unused identities every --identity-gc-interval); in Kubernetes mode
 * with --identity-allocation-mode=crd or without a kvstore, CiliumIdentity objects.
 */
export function newIdentityAllocator(p: AllocatorParams): IdentityAllocator {
  const { kv, k8s, resources } = p;
  const k8sOn = k8s?.enabled === true && resources?.enabled === true;
  const kvOn = kv?.enabled === true && p.kvConfig !== undefined;
  const mode = allocationMode({ k8s: k8sOn, kvstore: kvOn, mode: p.config.identityAllocationMode });
  if (mode === 'crd' && k8s && resources) {
    if (p.config.identityAllocationMode === 'kvstore') {
      p.logger.info(
        'no kvstore configured: identities are allocated as CiliumIdentity objects (crd)',
      );
    }
    const a = new CrdIdentityAllocator({
      resource: resources.ciliumIdentities,
      store: k8sIdentityStore(k8s),
      logger: p.logger,
      health: p.health.scope('crd'),
      timeoutMs: p.config.identityAllocationTimeout,
    });
    p.lifecycle.append({ onStart: () => a.start(), onStop: () => a.stop() }, 'crd-identities');
    return a;
  }
  if (p.config.identityAllocationMode === 'crd') {
    p.logger.warn('--identity-allocation-mode=crd needs Kubernetes mode: not used');
  }
  if (mode !== 'kvstore' || !kv || !p.kvConfig) return new LocalIdentityAllocator();
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
