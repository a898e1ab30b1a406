import { setImmediate } from 'node:timers/promises';
import type { Health, Logger } from '../../core/hive/index.js';
import { statusPending } from '../../core/reconciler/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import type { Ipam } from '../ipam/index.js';
import {
  endpointIps,
  owner,
  securityLabels,
  transition,
  type Endpoint,
  type PersistedEndpoint,
} from './model.js';
import type { EndpointStore, StateEntry } from './store.js';
import { unusableInterface, type LinkLookup } from './validate.js';

/** How far a restore got. */
export interface RestoreProgress {
  readonly done: number;
  readonly total: number;
}

/** What restore needs. */
export interface RestoreParams {
  readonly store: EndpointStore;
  readonly ipam: Ipam;
  readonly ids: IdentityAllocator;
  readonly health: Health;
  readonly logger: Logger;
  readonly lookupLink: LinkLookup;
  /** Inserts restored endpoints into the table and publishes their IPs. */
  commit(eps: readonly Endpoint[]): void;
  /** Stops restoring between batches (the agent is stopping). */
  readonly signal?: AbortSignal;
  progress(p: RestoreProgress): void;
}

/** How long restore works before it lets the event loop (and so the API) have a turn. */
const SLICE_MS = 10;

type Outcome =
  | { readonly kind: 'restored'; readonly ep: Endpoint }
  | { readonly kind: 'gone'; readonly why: string }
  | { readonly kind: 'bad'; readonly why: string };

/**
 * Restores persisted endpoints: each state file is validated before use; valid endpoints get
 * their IPs re-reserved and their identities back; an endpoint whose veth is gone is removed
 * (the pod is gone); a file that is invalid or conflicts with another endpoint is moved to the
 * quarantine directory and named in the log and in health, never deleted. The caller holds
 * writes and new IP allocations until this is done.
 */
export async function restoreEndpoints(p: RestoreParams): Promise<void> {
  const names = p.store.list();
  const byIp = new Map<string, number>();
  const byAttachment = new Map<string, number>();
  const byInterface = new Map<string, number>();
  const quarantined: string[] = [];
  let restored = 0;
  let removed = 0;

  const conflict = (ep: PersistedEndpoint): string | undefined => {
    for (const ip of endpointIps(ep)) {
      const other = byIp.get(ip);
      if (other !== undefined) return `its IP ${ip} is also endpoint ${other}'s`;
    }
    const att = ep.cniAttachmentId && byAttachment.get(ep.cniAttachmentId);
    if (att) return `its attachment ${ep.cniAttachmentId} is also endpoint ${att}'s`;
    const dev = ep.ifName && byInterface.get(ep.ifName);
    if (dev) return `its interface ${ep.ifName} is also endpoint ${dev}'s`;
    return undefined;
  };

  /** Re-reserves the endpoint's IPs, all or none. */
  const reserve = (ep: PersistedEndpoint): string | undefined => {
    if (ep.externalIpam) return undefined;
    const done: string[] = [];
    try {
      for (const ip of endpointIps(ep)) {
        p.ipam.restore(ip, owner(ep));
        done.push(ip);
      }
      return undefined;
    } catch (e) {
      for (const ip of done) p.ipam.unclaim(ip, owner(ep));
      return e instanceof Error ? e.message : String(e);
    }
  };

  const restoreOne = (saved: PersistedEndpoint): Outcome => {
    let ifIndex = saved.ifIndex;
    if (saved.ifName !== '') {
      const link = p.lookupLink(saved.ifName);
      if (!link) return { kind: 'gone', why: `interface ${saved.ifName} is gone` };
      const why = unusableInterface(link, saved.ifName);
      if (why) return { kind: 'bad', why };
      ifIndex = link.index;
    }
    const clash = conflict(saved);
    if (clash) return { kind: 'bad', why: clash };
    const ipProblem = reserve(saved);
    if (ipProblem) return { kind: 'bad', why: ipProblem };
    let identity: number;
    try {
      identity = p.ids.restore(securityLabels(saved), saved.identity).id;
    } catch (e) {
      for (const ip of endpointIps(saved))
        if (!saved.externalIpam) p.ipam.unclaim(ip, owner(saved));
      return { kind: 'bad', why: e instanceof Error ? e.message : String(e) };
    }
    const ep: Endpoint = transition(
      { ...saved, identity, ifIndex, state: 'restoring', log: [], status: statusPending() },
      'restoring',
      `restored after agent restart (identity ${identity})`,
    );
    // The saved identity is only a hint for the next restore: a new one is saved with the
    // endpoint's next change, not here (an fsync per endpoint would slow restore a hundredfold).
    for (const ip of endpointIps(ep)) byIp.set(ip, ep.id);
    if (ep.cniAttachmentId) byAttachment.set(ep.cniAttachmentId, ep.id);
    if (ep.ifName) byInterface.set(ep.ifName, ep.id);
    return { kind: 'restored', ep };
  };

  const quarantine = (name: string, why: string): void => {
    const file = `${p.store.dir}/${name}`;
    try {
      const to = p.store.quarantine(name);
      p.logger.warn({ file, quarantine: to }, `endpoint state ${file} ${why}: moved to ${to}`);
      quarantined.push(`${name} (${why})`);
    } catch (e) {
      p.logger.error(
        { file, err: e },
        `endpoint state ${file} ${why}, and could not be moved aside`,
      );
      quarantined.push(`${name} (${why}; left in place)`);
    }
  };

  let i = 0;
  while (i < names.length && p.signal?.aborted !== true) {
    const batch: Endpoint[] = [];
    const slice = performance.now() + SLICE_MS;
    for (; i < names.length && performance.now() < slice; i++) {
      const entry = names[i] as StateEntry;
      const { name } = entry;
      const read = p.store.read(entry);
      const out: Outcome = read.ok ? restoreOne(read.endpoint) : { kind: 'bad', why: read.why };
      if (out.kind === 'restored') {
        batch.push(out.ep);
        continue;
      }
      if (out.kind === 'bad') {
        quarantine(name, out.why);
        continue;
      }
      removed++;
      p.logger.info({ endpoint: name }, `${out.why}: removing endpoint ${name}`);
      try {
        p.store.remove(Number(name));
      } catch (e) {
        p.logger.error(
          { endpoint: name, err: e },
          'restore: state of a gone endpoint could not be removed',
        );
      }
    }
    p.commit(batch);
    restored += batch.length;
    p.progress({ done: i, total: names.length });
    if (i < names.length) await setImmediate();
  }
  p.logger.info({ restored, removed, quarantined: quarantined.length }, 'endpoints restored');
  const health = p.health.scope('restore');
  if (quarantined.length === 0) health.ok(`${restored} endpoints restored, ${removed} removed`);
  else {
    health.degraded(
      `${quarantined.length} endpoint state files could not be restored and were moved to ${p.store.quarantineDir}: ${quarantined.slice(0, 5).join('; ')}${quarantined.length > 5 ? '; ...' : ''}`,
    );
  }
}
