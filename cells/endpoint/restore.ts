import { setImmediate } from 'node:timers/promises';
import type { Health, Logger } from '../../core/hive/index.js';
import { statusPending } from '../../core/reconciler/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import { IpamError, type Ipam } from '../ipam/index.js';
import {
  endpointIps,
  owner,
  securityLabels,
  transition,
  type Endpoint,
  type PersistedEndpoint,
} from './model.js';
import { RestoreClock } from './restore-split.js';
import type { EndpointStore, StateEntry } from './store.js';
import { unusableInterface, type HostLink, type HostLinks } from './validate.js';

/** How far a restore got; `failed` says why it stopped, if it did. */
export interface RestoreProgress {
  readonly done: number;
  readonly total: number;
  readonly failed?: string;
  /** Set while restore waits for these (Kubernetes mode: the caches) before it starts. */
  readonly waiting?: string;
}

/** What restore needs. */
export interface RestoreParams {
  readonly store: EndpointStore;
  readonly ipam: Ipam;
  readonly ids: IdentityAllocator;
  readonly health: Health;
  readonly logger: Logger;
  readonly links: HostLinks;
  /** Inserts restored endpoints into the table and publishes their IPs. */
  commit(eps: readonly Endpoint[]): void;
  /** Stops restoring between slices (the agent is stopping). */
  readonly signal?: AbortSignal;
  progress(p: RestoreProgress): void;
  /** Times state read and IPAM/identity for the restart's split. */
  readonly clock?: RestoreClock;
}

/** What restore reported in health (`endpoint.restore`), so the timing can be added to it. */
export interface RestoreOutcome {
  readonly degraded: boolean;
  readonly message: string;
  readonly restored: number;
}

/** How long restore works before it lets the event loop (and so the API) have a turn. */
const SLICE_MS = 10;

/**
 * What became of a state file: restored; gone (its veth is gone: the pod is gone); kept in place
 * (it does not fit this agent's configuration, e.g. its IP is outside the pod CIDR: a restart
 * with the right flags restores it); bad (quarantined); a leftover of a create that never
 * finished (removed).
 */
type Outcome =
  | { readonly kind: 'restored'; readonly ep: Endpoint }
  | { readonly kind: 'gone' | 'kept' | 'bad' | 'leftover'; readonly why: string };

/**
 * Restores persisted endpoints: each state file is validated before use; valid endpoints get
 * their IPs re-reserved and their identities back. A file that is invalid or conflicts with an
 * endpoint already restored is moved to the quarantine directory, named in the log and in
 * health, never deleted. The caller holds writes and IP allocations until this is done.
 */
export async function restoreEndpoints(p: RestoreParams): Promise<RestoreOutcome> {
  const clock = p.clock ?? new RestoreClock();
  p.store.lock();
  const names = clock.time('stateRead', () => p.store.list());
  // One query for every device (a lookup per endpoint would cost ~0.1 ms each).
  let devices: ReadonlyMap<string, HostLink> | undefined;
  try {
    devices = names.length > 0 ? clock.time('stateRead', () => p.links.all()) : new Map();
  } catch (e) {
    p.logger.warn({ err: e }, 'restore: devices could not be listed; asking one by one');
  }
  /** A device by name; 'unknown' when the kernel could not be asked. */
  const device = (name: string): HostLink | undefined | 'unknown' => {
    if (devices) return devices.get(name);
    try {
      return clock.time('stateRead', () => p.links.get(name));
    } catch (e) {
      p.logger.warn({ err: e, interface: name }, 'restore: device could not be looked up');
      return 'unknown';
    }
  };
  const byIp = new Map<string, number>();
  const byAttachment = new Map<string, number>();
  const byInterface = new Map<string, number>();
  const quarantined: string[] = [];
  const kept: string[] = [];
  const gone: { name: string; why: string }[] = [];
  let restored = 0;
  let withInterface = 0;

  const inPool = (ip: string): boolean =>
    [...p.ipam.pools.values()].some((pool) => pool.contains(ip));
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
  const reserve = (ep: PersistedEndpoint): Outcome | undefined => {
    if (ep.externalIpam) {
      // As at the API: an address of this node's pod CIDR is IPAM's, whatever the file says.
      const own = endpointIps(ep).find(inPool);
      return own === undefined
        ? undefined
        : { kind: 'bad', why: `external-ipam address ${own} is in this node's pod CIDR` };
    }
    const done: string[] = [];
    try {
      for (const ip of endpointIps(ep)) {
        p.ipam.restore(ip, owner(ep));
        done.push(ip);
      }
      return undefined;
    } catch (e) {
      for (const ip of done) p.ipam.unclaim(ip, owner(ep));
      const why = e instanceof Error ? e.message : String(e);
      // Outside the pod CIDRs or a disabled family: this agent's flags, not the file, differ.
      const config = e instanceof IpamError && (e.kind === 'out-of-range' || e.kind === 'disabled');
      return { kind: config ? 'kept' : 'bad', why };
    }
  };

  const restoreOne = (saved: PersistedEndpoint): Outcome => {
    let ifIndex = saved.ifIndex;
    if (saved.ifName !== '') {
      withInterface++;
      const link = device(saved.ifName);
      if (!link) return { kind: 'gone', why: `interface ${saved.ifName} is gone` };
      // When the kernel cannot be asked the endpoint is kept as saved: regeneration will tell.
      if (link !== 'unknown') {
        if (saved.ifIndex !== 0 && link.index !== saved.ifIndex) {
          return {
            kind: 'gone',
            why: `interface ${saved.ifName} is another device now (${link.index}, not ${saved.ifIndex})`,
          };
        }
        const why = unusableInterface(link, saved.ifName);
        if (why) return { kind: 'bad', why };
        ifIndex = link.index;
      }
    }
    const clash = conflict(saved);
    if (clash) return { kind: 'bad', why: clash };
    const ipProblem = clock.time('ipamIdentity', () => reserve(saved));
    if (ipProblem) return ipProblem;
    let identity: number;
    try {
      identity = clock.time(
        'ipamIdentity',
        () => p.ids.restore(securityLabels(saved), saved.identity).id,
      );
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
  const forget = (name: string, why: string): void => {
    p.logger.info({ endpoint: name }, `${why}: removing endpoint ${name}`);
    try {
      p.store.remove(Number(name));
    } catch (e) {
      p.logger.error({ endpoint: name, err: e }, 'restore: endpoint state could not be removed');
    }
  };

  let i = 0;
  while (i < names.length && p.signal?.aborted !== true) {
    const batch: Endpoint[] = [];
    const slice = performance.now() + SLICE_MS;
    for (; i < names.length && performance.now() < slice; i++) {
      const { name } = names[i] as StateEntry;
      const read = clock.time('stateRead', () => p.store.read(names[i] as StateEntry));
      let out: Outcome;
      try {
        if (read.ok) out = restoreOne(read.endpoint);
        else out = { kind: read.leftover ? 'leftover' : 'bad', why: read.why };
      } catch (e) {
        // Whatever went wrong with this one endpoint, the others are still restored.
        const why = e instanceof Error ? e.message : String(e);
        out = { kind: 'bad', why: `could not be restored: ${why}` };
      }
      if (out.kind === 'restored') batch.push(out.ep);
      else if (out.kind === 'bad') quarantine(name, out.why);
      else if (out.kind === 'leftover') forget(name, out.why);
      else if (out.kind === 'gone') gone.push({ name, why: out.why });
      else {
        kept.push(`${name} (${out.why})`);
        p.logger.warn({ endpoint: name }, `endpoint ${name} not restored, state kept: ${out.why}`);
      }
    }
    p.commit(batch);
    restored += batch.length;
    p.progress({ done: i, total: names.length });
    if (i < names.length) await setImmediate();
  }
  // Every pod's veth missing at once looks like the wrong network namespace, not deleted pods.
  const wrongNamespace = gone.length >= 2 && gone.length === withInterface;
  if (wrongNamespace) {
    for (const g of gone) kept.push(`${g.name} (${g.why})`);
  } else {
    for (const g of gone) forget(g.name, g.why);
  }
  p.logger.info(
    {
      restored,
      removed: wrongNamespace ? 0 : gone.length,
      kept: kept.length,
      quarantined: quarantined.length,
    },
    'endpoints restored',
  );
  return report(p, {
    restored,
    removed: wrongNamespace ? 0 : gone.length,
    quarantined,
    kept,
    wrongNamespace,
  });
}

function report(
  p: RestoreParams,
  r: {
    restored: number;
    removed: number;
    quarantined: readonly string[];
    kept: readonly string[];
    wrongNamespace: boolean;
  },
): RestoreOutcome {
  const list = (xs: readonly string[]) =>
    xs.slice(0, 5).join('; ') + (xs.length > 5 ? '; ...' : '');
  const problems: string[] = [];
  if (r.quarantined.length > 0) {
    problems.push(
      `${r.quarantined.length} endpoint state files could not be restored and were moved to ${p.store.quarantineDir}: ${list(r.quarantined)}`,
    );
  }
  if (r.kept.length > 0) {
    problems.push(
      `${r.kept.length} endpoints were not restored, their state kept in place${r.wrongNamespace ? ' (none of their interfaces exists here: is the agent in the node network namespace?)' : ''}: ${list(r.kept)}`,
    );
  }
  const waiting = p.store.quarantinedCount() - r.quarantined.length;
  if (waiting > 0) {
    problems.push(
      `${waiting} earlier state files wait in ${p.store.quarantineDir} for the operator`,
    );
  }
  const health = p.health.scope('restore');
  const message =
    problems.length === 0
      ? `${r.restored} endpoints restored, ${r.removed} removed`
      : problems.join('; ');
  if (problems.length === 0) health.ok(message);
  else health.degraded(message);
  return { degraded: problems.length > 0, message, restored: r.restored };
}
