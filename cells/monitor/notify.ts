// The agent's own notifications (Cilium's AgentNotify), made by observing what other cells
// export: the endpoints table, the policy repository's changes and the services table. Those
// cells know nothing of the monitor.
import type { Observable, Subscription } from 'rxjs';
import type { Lifecycle } from '../../core/hive/index.js';
import type { Table } from '../../core/statedb/index.js';
import type { Endpoint } from '../endpoint/index.js';
import type { Service } from '../loadbalancer/index.js';
import type { AgentEvent } from './decode.js';

/** An agent notification before it is stamped. */
export type AgentNotice = Omit<AgentEvent, 'type' | 'time'>;

/** What the notifications are made from. */
export interface AgentSources {
  readonly endpoints: Table<Endpoint>;
  readonly policyChanges: Observable<{
    readonly revision: number;
    readonly added: readonly unknown[];
    readonly removed: readonly unknown[];
  }>;
  readonly services: Table<Service>;
}

interface Seen {
  readonly state: string;
  readonly policyRevision: number | undefined;
}

/** Emits a notice for each endpoint created, regenerated or deleted, policy change and service change. */
export function watchAgent(s: AgentSources, emit: (n: AgentNotice) => void): Subscription {
  const endpoints = new Map<number, Seen>();
  // What exists already (restored, or older than the monitor) is no news.
  const epsBefore = s.endpoints.revision(s.endpoints.db.readTxn());
  const sub = s.endpoints.observe().subscribe((batch) => {
    for (const c of batch) {
      const quiet = c.revision <= epsBefore;
      const ep = c.object;
      const seen = endpoints.get(ep.id);
      if (c.deleted) {
        endpoints.delete(ep.id);
        if (!quiet) {
          emit({
            subtype: 'endpoint-deleted',
            message: `Endpoint deleted: id=${ep.id} ipv4=${ep.ipv4} ipv6=${ep.ipv6} pod=${podOf(ep)}`,
            endpoint: ep.id,
            details: details(ep),
          });
        }
        continue;
      }
      endpoints.set(ep.id, { state: ep.state, policyRevision: ep.policyRevision });
      if (quiet) continue;
      if (!seen) {
        emit({
          subtype: 'endpoint-created',
          message: `Endpoint created: id=${ep.id} ipv4=${ep.ipv4} ipv6=${ep.ipv6} pod=${podOf(ep)} identity=${ep.identity}`,
          endpoint: ep.id,
          details: details(ep),
        });
      } else if (
        ep.state === 'ready' &&
        (seen.state !== 'ready' || seen.policyRevision !== ep.policyRevision)
      ) {
        emit({
          subtype: 'endpoint-regenerated',
          message: `Endpoint regenerated: id=${ep.id} identity=${ep.identity} policy-revision=${ep.policyRevision ?? 0}`,
          endpoint: ep.id,
          details: details(ep),
        });
      }
    }
  });
  sub.add(
    s.policyChanges.subscribe((c) => {
      const deleted = c.added.length === 0 && c.removed.length > 0;
      emit({
        subtype: deleted ? 'policy-deleted' : 'policy-updated',
        message: deleted
          ? `Policy deleted: ${c.removed.length} rules, revision ${c.revision}`
          : `Policy updated: ${c.added.length} rules added, ${c.removed.length} replaced, revision ${c.revision}`,
        details: { revision: c.revision, added: c.added.length, removed: c.removed.length },
      });
    }),
  );
  const svcBefore = s.services.revision(s.services.db.readTxn());
  sub.add(
    s.services.observe().subscribe((batch) => {
      for (const c of batch) {
        if (c.revision <= svcBefore) continue;
        emit({
          subtype: c.deleted ? 'service-deleted' : 'service-upserted',
          message: `Service ${c.deleted ? 'deleted' : 'upserted'}: ${c.object.key}`,
          details: { service: c.object.key },
        });
      }
    }),
  );
  return sub;
}

function podOf(ep: Endpoint): string {
  return ep.k8sPodName ? `${ep.k8sNamespace}/${ep.k8sPodName}` : '';
}

function details(ep: Endpoint): Record<string, unknown> {
  return {
    id: ep.id,
    identity: ep.identity,
    labels: ep.labels,
    ipv4: ep.ipv4,
    ipv6: ep.ipv6,
    ifindex: ep.ifIndex,
    containerId: ep.containerId,
    pod: podOf(ep),
  };
}

/** Sends `agent-start` and the notifications of watchAgent while the cell runs. */
export function registerNotifications(p: {
  readonly monitor: { notify(n: AgentNotice): void };
  readonly sources: AgentSources;
  readonly lifecycle: Lifecycle;
}): void {
  let sub: Subscription | undefined;
  p.lifecycle.append(
    {
      onStart: () => {
        sub = watchAgent(p.sources, (n) => p.monitor.notify(n));
        p.monitor.notify({ subtype: 'agent-start', message: 'Cellium agent started' });
      },
      onStop: () => sub?.unsubscribe(),
    },
    'notifications',
  );
}
