import type { Model } from '../../core/api/index.js';
import { token } from '../../core/hive/index.js';

/** The parts of the daemon's answers that other cells fill in (IPAM, endpoints, maps...). */
export interface StatusContribution {
  /** Adds to GET /v1/healthz (e.g. `s.ipam = ...`). */
  status?(s: Model<'StatusResponse'>): void;
  /** Adds to GET /v1/config's status (e.g. `c['ipam-mode'] = ...`). */
  config?(c: Model<'DaemonConfigurationStatus'>): void;
  /** Adds to GET /v1/debuginfo (e.g. `d['endpoint-list'] = ...`). */
  debug?(d: Model<'DebugInfo'>): void;
  /** Why the agent is not ready yet (e.g. still restoring endpoints), or undefined. */
  notReady?(): string | undefined;
}

/** Where cells add their contributions. */
export interface StatusContributors {
  add(c: StatusContribution): void;
}

/** Contributions registered by cells, applied in registration order. */
export class StatusRegistry implements StatusContributors {
  private readonly list: StatusContribution[] = [];

  /** Adds a contribution. */
  add(c: StatusContribution): void {
    this.list.push(c);
  }

  /** Why the agent is not ready yet, from every contribution that says so. */
  notReady(): string[] {
    return this.list.flatMap((c) => c.notReady?.() ?? []);
  }

  /** @internal */
  apply<K extends 'status' | 'config' | 'debug'>(
    kind: K,
    target: Parameters<NonNullable<StatusContribution[K]>>[0],
  ): void {
    for (const c of this.list) (c[kind] as ((t: typeof target) => void) | undefined)?.(target);
  }
}

/** Where cells contribute to /healthz, /config and /debuginfo. */
export const StatusContributors = token<StatusContributors>('daemon/StatusContributors');

/** The agent's overall state (`cilium` of /v1/healthz), computed from the collector's last results. */
export interface AgentStatus {
  status(): Model<'Status'>;
}

/** The agent's overall state, for whatever reports it outside the API (the kubelet's port). */
export const AgentStatus = token<AgentStatus>('daemon/AgentStatus');
