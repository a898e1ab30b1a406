// Kubernetes policies → the policy repository (Cilium's pkg/policy/k8s watcher): each
// NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy owns the rules made from
// it (the repository's `resource`), replaced when it changes and removed when it goes. Nothing
// is applied before the three caches are synced; the first pass then also removes the rules of
// objects deleted while the agent was down (they were kept in rules.json). Changes are batched:
// whatever accumulated is one repository change, one write of rules.json. A policy that cannot
// be translated is skipped with its name in health and the log, and keeps the rules it had.
import { filter, merge, timer, type Observable } from 'rxjs';
import type { Health, Jobs, Lifecycle, Logger } from '../../core/hive/index.js';
import type { ChangeIterator, DB, Table } from '../../core/statedb/index.js';
import { objectKey, type K8sObject, type K8sResources } from '../k8s/index.js';
import { canonicalRule } from './canonical.js';
import {
  CILIUM_CLUSTERWIDE_NETWORK_POLICY,
  CILIUM_NETWORK_POLICY,
  ciliumPolicyRules,
} from './k8s-cnp.js';
import { NETWORK_POLICY, networkPolicyRules } from './k8s-netpol.js';
import type { Rule } from './rules.js';
import type { StoredRule } from './repository.js';
import type { PolicyRuntime } from './runtime.js';

/** What the sync needs of the policy cell. */
export interface K8sPolicySyncParams {
  readonly db: DB;
  readonly resources: K8sResources;
  /** Replaces resources' rules in one change (the engine's); throws when nothing changed. */
  readonly replaceResources: (changes: ReadonlyMap<string, readonly Rule[]>) => number;
  /** The repository's rules by owning resource. */
  readonly owned: () => ReadonlyMap<string, readonly StoredRule[]>;
  readonly health: Health;
  readonly logger: Logger;
}

interface Kind {
  readonly kind: string;
  readonly table: Table<K8sObject>;
  readonly synced: () => boolean;
  readonly translate: (o: K8sObject) => { rules: Rule[]; warnings: string[] };
}

/** How often policies that could not be stored (a write error, a full repository) are retried. */
export const RETRY_MS = 10_000;
/** How many problems health lists by name. */
const SHOWN = 5;

/** The resource (owner) id of an object's rules: `<Kind>/<namespace>/<name>` or `<Kind>/<name>`. */
export function resourceId(kind: string, o: K8sObject): string {
  return `${kind}/${objectKey(o)}`;
}

/** The fingerprint of a resource's rules: their stored texts, in order. */
function fingerprint(rules: readonly Rule[]): string {
  return rules.map((r) => JSON.stringify(canonicalRule(r))).join('\n');
}

/** Mirrors the Kubernetes policy tables into the policy repository. */
export class K8sPolicySync {
  private readonly kinds: readonly Kind[];
  private iterators: ChangeIterator<K8sObject>[] | undefined;
  /** Resources whose object changed (or whose last store failed) and must be looked at. */
  private readonly pending = new Set<string>();
  /** What each resource's rules in the repository are (fingerprint). */
  private readonly applied = new Map<string, string>();
  /** Objects not applied (or applied in part), with why. */
  private readonly problems = new Map<string, string>();
  /** Objects whose rules could not be stored (retried), with why. */
  private readonly storeErrors = new Map<string, string>();
  /** Whether the first pass (stale rules removed) is done. */
  private first = true;

  constructor(private readonly p: K8sPolicySyncParams) {
    const r = p.resources;
    this.kinds = [
      {
        kind: NETWORK_POLICY,
        table: r.networkPolicies.table,
        synced: () => r.networkPolicies.synced(),
        translate: (o) => networkPolicyRules(o),
      },
      {
        kind: CILIUM_NETWORK_POLICY,
        table: r.ciliumNetworkPolicies.table,
        synced: () => r.ciliumNetworkPolicies.synced(),
        translate: (o) => ({ rules: ciliumPolicyRules(o, CILIUM_NETWORK_POLICY), warnings: [] }),
      },
      {
        kind: CILIUM_CLUSTERWIDE_NETWORK_POLICY,
        table: r.ciliumClusterwideNetworkPolicies.table,
        synced: () => r.ciliumClusterwideNetworkPolicies.synced(),
        translate: (o) => ({
          rules: ciliumPolicyRules(o, CILIUM_CLUSTERWIDE_NETWORK_POLICY),
          warnings: [],
        }),
      },
    ];
  }

  /** When to run: any commit to the three tables, and a retry timer for failed stores. */
  triggers(): Observable<unknown> {
    const names = new Set(this.kinds.map((k) => k.table.name));
    return merge(
      this.p.db.commits$.pipe(filter((changed) => [...changed].some((n) => names.has(n)))),
      timer(0, RETRY_MS),
    );
  }

  /** Whether the three caches hold their first list. */
  synced(): boolean {
    return this.kinds.every((k) => k.synced());
  }

  /** One round: take the changes since the last, store them as one change. */
  run(): void {
    if (!this.synced()) {
      if (this.first) {
        const waiting = this.kinds
          .filter((k) => !k.synced())
          .map((k) => k.kind)
          .join(', ');
        this.p.health.ok(`waiting for the caches of ${waiting} to sync`);
      }
      return;
    }
    if (!this.iterators) {
      // First next() returns every object: all of them are looked at once.
      this.iterators = this.kinds.map((k) => k.table.changes());
      for (const [res, rules] of this.p.owned()) {
        this.applied.set(res, rules.map((r) => r.text).join('\n'));
        // Rules of objects that may be gone: looked at (and removed if so) in this first pass.
        this.pending.add(res);
      }
    }
    const txn = this.p.db.readTxn();
    this.iterators.forEach((it, i) => {
      const kind = this.kinds[i];
      if (!kind) return;
      for (const c of it.next(txn)) this.pending.add(resourceId(kind.kind, c.object));
    });
    if (this.pending.size === 0 && !this.first) return;
    const batch = new Map<string, readonly Rule[]>();
    const prints = new Map<string, string>();
    for (const res of this.pending) {
      const slash = res.indexOf('/');
      const kind = this.kinds.find((k) => k.kind === res.slice(0, slash));
      const obj = kind?.table.get(txn, res.slice(slash + 1));
      if (!kind || !obj) {
        // Gone (or of a kind this agent no longer knows): its rules go.
        this.problems.delete(res);
        this.storeErrors.delete(res);
        if (this.applied.has(res)) {
          batch.set(res, []);
          prints.set(res, '');
        } else this.pending.delete(res);
        continue;
      }
      let out;
      try {
        out = kind.translate(obj);
      } catch (e) {
        // Skipped: the rules it had (if any) stay, as nothing else is dropped for bad input.
        const why = e instanceof Error ? e.message : String(e);
        this.problems.set(res, why);
        this.p.logger.warn({ policy: res, error: why }, 'Kubernetes policy not applied');
        this.pending.delete(res);
        continue;
      }
      if (out.warnings.length > 0) {
        const why = `applied in part: ${out.warnings.join('; ')}`;
        if (this.problems.get(res) !== why) {
          this.p.logger.warn(
            { policy: res, warnings: out.warnings },
            'Kubernetes policy applied in part',
          );
        }
        this.problems.set(res, why);
      } else this.problems.delete(res);
      const print = fingerprint(out.rules);
      if (this.applied.get(res) === print) {
        this.pending.delete(res);
        continue;
      }
      batch.set(res, out.rules);
      prints.set(res, print);
    }
    this.store(batch, prints);
    this.first = false;
    this.report();
  }

  /** Stores a batch in one change; if that fails, each resource alone (so one bad one waits). */
  private store(batch: Map<string, readonly Rule[]>, prints: Map<string, string>): void {
    if (batch.size === 0) return;
    const done = (res: string): void => {
      const print = prints.get(res) ?? '';
      if (print === '') this.applied.delete(res);
      else this.applied.set(res, print);
      this.pending.delete(res);
      this.storeErrors.delete(res);
    };
    try {
      this.p.replaceResources(batch);
      for (const res of batch.keys()) done(res);
      return;
    } catch (e) {
      if (batch.size === 1) {
        this.failed(batch.keys().next().value ?? '', e);
        return;
      }
    }
    for (const [res, rules] of batch) {
      try {
        this.p.replaceResources(new Map([[res, rules]]));
        done(res);
      } catch (e) {
        this.failed(res, e);
      }
    }
  }

  private failed(res: string, e: unknown): void {
    // Kept pending: retried at the next change or by the retry timer.
    const why = `not stored (retried): ${e instanceof Error ? e.message : String(e)}`;
    // Logged once per reason, not at every retry.
    if (this.storeErrors.get(res) !== why) {
      this.p.logger.warn({ policy: res, error: why }, 'Kubernetes policy not stored');
    }
    this.storeErrors.set(res, why);
  }

  private report(): void {
    const count = `${this.applied.size} Kubernetes ${this.applied.size === 1 ? 'policy' : 'policies'}`;
    const all = [...this.storeErrors, ...this.problems];
    if (all.length === 0) {
      this.p.health.ok(`${count} applied`);
      return;
    }
    const shown = all.slice(0, SHOWN).map(([res, why]) => `${res}: ${why}`);
    const more = all.length > SHOWN ? `; and ${all.length - SHOWN} more` : '';
    this.p.health.degraded(
      `${count} applied, ${all.length} with problems: ${shown.join('; ')}${more}`,
    );
  }

  /** Stops tracking the tables' changes. */
  close(): void {
    for (const it of this.iterators ?? []) it.close();
    this.iterators = undefined;
  }
}

/**
 * Runs the sync in the policy cell (Kubernetes mode only): a round at each change of the three
 * tables and every RETRY_MS; nothing when the stored policy is unusable (writes are refused).
 */
export function startK8sPolicySync(p: {
  readonly db: DB;
  readonly policy: PolicyRuntime;
  readonly resources: K8sResources | undefined;
  readonly jobs: Jobs;
  readonly lifecycle: Lifecycle;
  readonly health: Health;
  readonly logger: Logger;
}): void {
  const { resources, policy } = p;
  if (!resources?.enabled) return;
  const health = p.health.scope('k8s-policies');
  if (policy.broken !== undefined) {
    health.degraded(
      `Kubernetes policies are not applied: the stored policy cannot be used: ${policy.broken}`,
    );
    return;
  }
  const sync = new K8sPolicySync({
    db: p.db,
    resources,
    replaceResources: (changes) => policy.engine.replaceResources(changes),
    owned: () => policy.repo.resources(),
    health,
    logger: p.logger,
  });
  p.jobs.observer('k8s-policy-sync', sync.triggers(), () => {
    sync.run();
  });
  p.lifecycle.append(
    {
      onStop: () => {
        sync.close();
      },
    },
    'k8s-policies',
  );
}
