// The policy cell at run time: the repository read back from <state-dir>/policy, the engine fed
// by identity and endpoint changes, the node's addresses published as the host identity, and
// the reconciler writing each endpoint's policy map. If the state file cannot be used, nothing
// is computed or written (the pinned maps keep enforcing what they hold) and every write is
// refused, naming the file, until an operator fixes it: the policy is never silently dropped.
import { join } from 'node:path';
import { ApiError } from '../../core/api/index.js';
import type { ConfigStore, Health, Jobs, Lifecycle, Logger } from '../../core/hive/index.js';
import {
  registerReconciler,
  type Reconciler,
  type ReconcilerMetrics,
} from '../../core/reconciler/index.js';
import { waitFor, type DB, type Table } from '../../core/statedb/index.js';
import type { Endpoint } from '../endpoint/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import type { IpcacheEntry, IpcacheWriter } from '../ipcache/index.js';
import { forgetAddresses, type CtMaps } from '../conntrack/index.js';
import type { PolicyMaps } from '../policymap/index.js';
import { CidrIdentities } from './cidr-ids.js';
import { PolicyEngine } from './engine.js';
import { newHostIps } from './host-ips.js';
import type { EnforcementMode } from './mapstate.js';
import { policyOps } from './ops.js';
import { Repository } from './repository.js';
import { policyKeyOf, type EndpointPolicy } from './table.js';

/** The policy cell's running parts. */
export interface PolicyRuntime {
  readonly repo: Repository;
  readonly engine: PolicyEngine;
  /** Why the stored policy could not be loaded (writes are refused), if so. */
  readonly broken: string | undefined;
  readonly mode: () => EnforcementMode;
  readonly allowLocalhost: boolean;
  /** Resolves once every endpoint's row up to now has been tried. */
  settled(): Promise<void>;
}

/** Builds and wires the policy cell's parts. */
export function newPolicyRuntime(p: {
  readonly db: DB;
  readonly table: Table<EndpointPolicy>;
  readonly endpoints: Table<Endpoint>;
  readonly ids: IdentityAllocator;
  readonly ipcache: IpcacheWriter;
  readonly ipcacheTable: Table<IpcacheEntry>;
  readonly maps: PolicyMaps;
  readonly ct: CtMaps;
  readonly flags: ConfigStore;
  readonly stateDir: string;
  readonly allowLocalhost: boolean;
  readonly kernel: () => boolean;
  readonly links: () => Iterable<{
    readonly name: string;
    readonly addresses: readonly { readonly address: string }[];
  }>;
  readonly routers: () => readonly string[];
  readonly jobs: Jobs;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
  readonly reconcilerMetrics: ReconcilerMetrics | undefined;
}): PolicyRuntime {
  const repo = new Repository(join(p.stateDir, 'policy'));
  let broken: string | undefined;
  try {
    repo.load();
  } catch (e) {
    broken = e instanceof Error ? e.message : String(e);
  }
  const mode = (): EnforcementMode => p.flags.get('policy-enforcement') as EnforcementMode;
  const cidrs = new CidrIdentities({
    repo,
    db: p.db,
    ipcache: p.ipcache,
    ipcacheTable: p.ipcacheTable,
  });
  const engine = new PolicyEngine({
    db: p.db,
    table: p.table,
    endpoints: p.endpoints,
    ids: p.ids,
    repo,
    cidrs,
    mode,
    allowLocalhost: p.allowLocalhost,
    get kernel() {
      return p.kernel();
    },
    logger: p.logger,
    whenRealized: (fn) => {
      void runtime.settled().then(fn, fn);
    },
  });
  const hostIps = newHostIps({ ...p });
  const handle: { reconciler?: Reconciler } = {};
  const runtime: PolicyRuntime = {
    repo,
    engine,
    get broken() {
      return broken;
    },
    mode,
    allowLocalhost: p.allowLocalhost,
    settled: async () => {
      await handle.reconciler?.waitUntilReconciled(p.table.revision(p.db.readTxn()));
    },
  };
  if (broken !== undefined) {
    p.health.degraded(
      `the stored policy cannot be used, so nothing is recomputed and the endpoints' maps keep what they hold; policy writes are refused until it is fixed or removed: ${broken}`,
    );
    p.logger.error({ problem: broken }, 'stored policy unusable');
    return runtime;
  }
  engine.init();
  // Pruning waits for the first computation after endpoints are restored.
  const initialized = p.db.update([p.table], (w) => w.registerInitializer(p.table, 'policy'));
  let ready = false;
  let initializedDone = false;
  p.lifecycle.append(
    {
      onStart: () => {
        cidrs.publishAll();
        hostIps.sync();
      },
    },
    'policy-ipcache',
  );
  // Identity changes are queued as they happen and applied before any computation, so an
  // endpoint is never computed against a cache that lacks an identity allocated before it.
  const sub = p.ids.changes$.subscribe((c) => {
    engine.enqueue(c);
  });
  p.lifecycle.append({ onStop: () => sub.unsubscribe() }, 'policy-identities');
  p.jobs.observer('identities', p.ids.changes$, () => {
    if (ready) engine.flushIdentities();
  });
  // Nothing is computed until the endpoints are restored: a policy computed while some
  // endpoints (and their identities) are still missing could drop allowed peers or miss a deny.
  const sync = (): void => {
    if (!ready) {
      if (!p.endpoints.initialized(p.db.readTxn())) return;
      ready = true;
    }
    engine.syncEndpoints();
    if (!initializedDone) {
      initializedDone = true;
      p.db.update([p.table], (w) => {
        initialized(w);
      });
    }
  };
  p.jobs.observer('endpoints', p.endpoints.observe(), sync);
  // The restore's end may change no endpoint (nothing to restore): its commit wakes this once.
  p.jobs.oneShot('endpoints-restored', async (ctx) => {
    await waitFor(
      p.db,
      p.endpoints,
      () => (p.endpoints.initialized(p.db.readTxn()) ? true : undefined),
      Infinity,
      () => new Error('endpoints never restored'),
      ctx.signal,
    );
    if (!ready) sync();
  });
  p.jobs.observer('enforcement', p.flags.watch('policy-enforcement'), () => {
    engine.recomputeAll();
  });
  p.jobs.timer(
    'host-ips',
    () => {
      hostIps.sync();
    },
    30_000,
  );
  handle.reconciler = registerReconciler({
    db: p.db,
    table: p.table,
    ops: policyOps(p.maps, (ips) => {
      if (p.ct.running) forgetAddresses([p.ct.open.v4, p.ct.open.v6], ips);
    }),
    getStatus: (r) => r.status,
    setStatus: (r, status) =>
      status.kind === 'done' ? { ...r, status, realizedRevision: r.revision } : { ...r, status },
    jobs: p.jobs,
    // Small rounds: the kernel writes are synchronous, and the API must keep answering.
    config: { retry: { minMs: 100, maxMs: 10_000 }, roundSize: 64 },
    ...(p.reconcilerMetrics ? { metrics: p.reconcilerMetrics } : {}),
  });
  p.health.ok(`${repo.rules().length} rules at revision ${repo.revision}`);
  return runtime;
}

/**
 * Resolves once endpoint `id`'s row is realized at the repository's current revision (its map
 * written and attached); rejects when it failed in a way retrying cannot fix, after `timeoutMs`,
 * or at once when the stored policy is unusable (an endpoint is never made without its policy).
 */
export function waitPolicyRealized(
  rt: PolicyRuntime,
  db: DB,
  table: Table<EndpointPolicy>,
  id: number,
  timeoutMs: number,
): Promise<void> {
  if (rt.broken !== undefined) {
    return Promise.reject(
      new ApiError(
        500,
        `endpoint ${id} cannot get its policy: the stored policy cannot be used: ${rt.broken}`,
      ),
    );
  }
  const want = rt.repo.revision;
  return waitFor(
    db,
    table,
    () => {
      const row = table.get(db.readTxn(), policyKeyOf(id));
      if (row?.status.kind === 'done' && rt.engine.realizedRevision(row) >= want) return true;
      if (row?.status.kind === 'error' && row.status.permanent) {
        throw new ApiError(
          500,
          `the policy of endpoint ${id} could not be programmed: ${row.status.error ?? ''}`,
        );
      }
      return undefined;
    },
    timeoutMs,
    () => new ApiError(500, `the policy of endpoint ${id} was not programmed in time`),
  ).then(() => undefined);
}
