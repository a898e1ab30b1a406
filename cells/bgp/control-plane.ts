// The BGP control plane at run time: the speaker, the peering policy file applied to it, and
// the advertisements kept in line with the node's pod CIDRs and the load balancer's frontends.
import { auditTime, BehaviorSubject, filter, Subscription } from 'rxjs';
import {
  errorMessage,
  type Health,
  type Jobs,
  type Lifecycle,
  type Logger,
} from '../../core/hive/index.js';
import { waitFor, type Change, type DB } from '../../core/statedb/index.js';
import type { Ipam } from '../ipam/index.js';
import type { K8sResources, Node } from '../k8s/index.js';
import type { LbTables } from '../loadbalancer/index.js';
import { computeAdvertisements, type NeighborRoutes } from './advertise.js';
import { HOSTNAME_LABEL, routersForNode } from './node-select.js';
import type { PeeringPolicy, VirtualRouter } from './policy-file.js';
import { PolicyWatcher } from './policy-watch.js';
import type { BgpSpeaker, SpeakerConfig, SpeakerParams } from './speaker/types.js';
import { forgetRunning, recordRunning, wasRunning } from './state-file.js';
import { canonicalPrefix } from './wire/index.js';

/** Creates the speaker (newSpeaker; tests give a double). */
export type SpeakerFactory = (p: SpeakerParams) => BgpSpeaker;

/** What the control plane needs. */
export interface BgpControlPlaneParams {
  readonly enabled: boolean;
  readonly file: string;
  /** --bgp-router-id, '' for the node's IPv4 address. */
  readonly routerId: string;
  readonly listenPort: number;
  readonly nodeName: string;
  readonly stateDir: string;
  /** The node's addresses (--ipv4-node / --ipv6-node resolved), read at start. */
  readonly nodeIps: () => readonly string[];
  readonly ipam: Ipam;
  readonly db: DB;
  readonly tables: LbTables;
  readonly k8s?: K8sResources;
  readonly newSpeaker: SpeakerFactory;
  readonly lifecycle: Lifecycle;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
  /** How long a burst of changes is gathered before the advertisements are recomputed. */
  readonly debounceMs?: number;
  /** How often the policy file is stat'ed besides fs.watch. */
  readonly filePeriodMs?: number;
  /** How long after the speaker refused a configuration it is applied again. */
  readonly retryMs?: number;
}

/** The control plane as the API, status and metrics read it. */
export interface BgpControlPlane {
  /** Why BGP is off (the 501 message), or undefined when it runs. */
  readonly disabled: string | undefined;
  /** The speaker while the agent runs. */
  speaker(): BgpSpeaker | undefined;
  /** The virtual routers in effect (the last good policy file's, for this node). */
  routers(): readonly VirtualRouter[];
  /** What each neighbor was last given. */
  advertisements(): readonly NeighborRoutes[];
  /** When a router first originated a prefix (ms since epoch), while it does. */
  originatedAt(asn: number, prefix: string): number | undefined;
  /** The BGP identifier in use ('' when there is none). */
  routerId(): string;
  /** Why the configuration is not (fully) in effect, if it is not. */
  problem(): string | undefined;
}

/** '1/2 peers established': the counts health and status report. */
export function peerCounts(sp: BgpSpeaker): string {
  const peers = sp.peers();
  const up = peers.filter((x) => x.state === 'established').length;
  return `${up}/${peers.length} peers established`;
}

/** What bgp.policy says until the Kubernetes Nodes are listed. */
export const WAITING_FOR_NODES =
  "waiting for the Kubernetes Nodes (this node's labels select the policies)";

/** The message of /v1/bgp/* while BGP is off. */
export const BGP_DISABLED =
  'BGP control plane is disabled: start the agent with --enable-bgp-control-plane and --bgp-config <file>';

/** Creates the control plane; it starts with the agent when --enable-bgp-control-plane is set. */
export function newBgpControlPlane(p: BgpControlPlaneParams): BgpControlPlane {
  let speaker: BgpSpeaker | undefined;
  let policies: readonly PeeringPolicy[] | undefined;
  let routers: readonly VirtualRouter[] = [];
  let adverts: readonly NeighborRoutes[] = [];
  let routerId = '';
  let fileProblem: string | undefined;
  let applyProblem: string | undefined;
  let applied = '';
  let ipamReady = false;
  /** Why the routes are not handed to the speaker yet (undefined once they are). */
  let waiting: string | undefined;
  const sent = new Map<string, string>();
  const originated = new Map<string, number>();
  // Behavior subjects: what is asked before the jobs subscribe (at start) is not lost.
  const reconfigure = new BehaviorSubject<void>(undefined);
  const dirty = new BehaviorSubject<void>(undefined);
  const subs: Subscription[] = [];
  let watcher: PolicyWatcher | undefined;
  let retry: NodeJS.Timeout | undefined;
  const policyHealth = p.health.scope('policy');

  const nodeLabels = (): Record<string, string> => {
    const own: Record<string, string> = { [HOSTNAME_LABEL]: p.nodeName };
    if (!p.k8s?.enabled) return own;
    const node = p.k8s.nodes.table.get(p.db.readTxn(), p.nodeName);
    return { ...own, ...node?.metadata.labels };
  };

  const nextHops = (): { ipv4?: string; ipv6?: string } => {
    const ips = p.nodeIps();
    const v4 = ips.find((ip) => !ip.includes(':'));
    const v6 = ips.find((ip) => ip.includes(':'));
    return { ...(v4 !== undefined ? { ipv4: v4 } : {}), ...(v6 !== undefined ? { ipv6: v6 } : {}) };
  };

  // Canonical (host bits clear): the flag may be written `10.1.0.5/24`.
  const podCidrs = (): string[] =>
    [...p.ipam.pools.values()].map((pool) => canonicalPrefix(pool.cidr));

  /** Selects the routers for the node's labels and applies them (only when they changed). */
  const applyConfig = async (): Promise<void> => {
    const sp = speaker;
    if (!sp || !policies) return;
    // Before the Nodes are listed this node's labels are unknown: selecting on the hostname
    // alone could drop (and, after a graceful restart, withdraw) what its labels select.
    if (p.k8s?.enabled && !p.k8s.nodes.synced()) {
      policyHealth.ok(WAITING_FOR_NODES);
      return;
    }
    let next: VirtualRouter[];
    try {
      next = routersForNode(policies, nodeLabels(), p.file);
      fileProblem = undefined;
    } catch (e) {
      fileProblem = errorMessage(e);
      policyHealth.degraded('peering policies not applied (the previous ones stay)', e);
      return;
    }
    const config: SpeakerConfig = {
      routerId,
      listenPort: p.listenPort,
      neighbors: next.flatMap((r) => r.neighbors.map((n) => n.session)),
    };
    const text = JSON.stringify(config);
    if (text !== applied) {
      try {
        await sp.apply(config);
        applied = text;
        applyProblem = undefined;
        // The speaker forgets a removed neighbor's routes: if it comes back, they go again.
        const kept = new Set(config.neighbors.map((n) => n.address));
        for (const k of [...sent.keys()]) if (!kept.has(k)) sent.delete(k);
      } catch (e) {
        applyProblem = `speaker: ${errorMessage(e)}`;
        policyHealth.degraded('the speaker refused the configuration (retrying)', e);
        // What failed may pass (a listen port another process frees): try again later.
        clearTimeout(retry);
        retry = setTimeout(() => reconfigure.next(), p.retryMs ?? 5000);
        // A taken listen port fails the apply after the neighbors were applied: the sessions
        // this node opens run, and must get their routes meanwhile.
        const have = new Set(sp.peers().map((x) => x.config.address));
        if (!config.neighbors.every((n) => have.has(n.address))) return;
        routers = next;
        dirty.next();
        return;
      }
      if (next.length > 0) {
        try {
          recordRunning(
            p.stateDir,
            routerId,
            next.map((r) => r.localAsn),
          );
        } catch (e) {
          // The sessions run; only the next start's restart flag is at stake.
          p.logger.warn({ err: errorMessage(e) }, 'BGP state not recorded');
        }
      }
    }
    routers = next;
    policyHealth.ok(`${next.length} virtual routers, ${config.neighbors.length} neighbors`);
    dirty.next();
  };

  /**
   * What the first routes still wait for. After a graceful restart the speaker sends End-of-RIB
   * with a neighbor's first routes and the peer drops every stale one not among them: they must
   * be whole (pod CIDRs, restored and Kubernetes services, the Node's labels), never partial.
   */
  const notReady = (txn: ReturnType<DB['readTxn']>): string | undefined => {
    if (!ipamReady) return 'waiting for the pod CIDRs (IPAM)';
    if (!p.tables.frontends.initialized(txn))
      return 'waiting for the services (restored state, Kubernetes sync)';
    if (p.k8s?.enabled && !p.k8s.nodes.synced()) return WAITING_FOR_NODES;
    return undefined;
  };

  /** Recomputes every neighbor's routes and hands the speaker those that changed. */
  const advertise = (): void => {
    const sp = speaker;
    if (!sp) return;
    const txn = p.db.readTxn();
    const why = notReady(txn);
    if (why !== undefined) {
      if (why !== waiting) p.logger.info({ reason: why }, 'BGP routes not advertised yet');
      waiting = why;
      return;
    }
    waiting = undefined;
    adverts = computeAdvertisements({
      routers,
      podCidrs: podCidrs(),
      frontends: p.tables.frontends.all(txn),
      nodeName: p.nodeName,
      nodeLabels: nodeLabels(),
      nextHop: nextHops(),
    });
    const now = Date.now();
    const current = new Set<string>();
    for (const n of adverts) {
      for (const r of n.routes) {
        const k = `${n.localAsn}|${r.prefix}`;
        current.add(k);
        if (!originated.has(k)) originated.set(k, now);
      }
    }
    for (const k of [...originated.keys()]) if (!current.has(k)) originated.delete(k);
    const seen = new Set<string>();
    for (const n of adverts) {
      seen.add(n.neighbor);
      const routes = n.routes.map(({ source: _s, ...a }) => a);
      const text = JSON.stringify(routes);
      if (sent.get(n.neighbor) === text) continue;
      sent.set(n.neighbor, text);
      sp.setAdvertisements(n.neighbor, routes);
    }
    for (const k of [...sent.keys()]) if (!seen.has(k)) sent.delete(k);
  };

  if (p.enabled) {
    p.lifecycle.append(
      {
        onStart: () => {
          const restarting = wasRunning(p.stateDir);
          routerId = p.routerId || (nextHops().ipv4 ?? '');
          speaker = p.newSpeaker({ restarting, log: p.logger });
          const sp = speaker;
          const peersHealth = p.health.scope('peers');
          subs.push(
            sp.changes$.pipe(auditTime(p.debounceMs ?? 100)).subscribe(() => {
              peersHealth.ok(peerCounts(sp));
            }),
          );
          peersHealth.ok(peerCounts(sp));
          if (routerId === '') {
            fileProblem = 'no BGP router id: set --bgp-router-id (the node has no IPv4 address)';
            policyHealth.degraded(fileProblem);
            return;
          }
          if (p.file === '') {
            fileProblem = 'no peering policy file: set --bgp-config';
            policyHealth.degraded(fileProblem);
            return;
          }
          p.jobs.observer('apply', reconfigure, applyConfig);
          p.jobs.observer('advertise', dirty.pipe(auditTime(p.debounceMs ?? 100)), advertise);
          subs.push(p.tables.frontends.observe().subscribe(() => dirty.next()));
          // A label change of this node's Node may select other policies; applying recomputes
          // the routes too. Other Nodes' updates (status heartbeats, cluster-wide) are not ours.
          if (p.k8s?.enabled) {
            const mine = (cs: readonly Change<Node>[]): boolean =>
              cs.some((c) => c.object.metadata.name === p.nodeName);
            subs.push(
              p.k8s.nodes.table
                .observe()
                .pipe(filter(mine))
                .subscribe(() => reconfigure.next()),
            );
          }
          // The pod CIDRs are known at once, or (IPAM kubernetes) once the Node has them.
          const ready = new AbortController();
          subs.push(new Subscription(() => ready.abort()));
          p.k8s?.nodes.waitSynced(ready.signal).then(
            () => reconfigure.next(),
            () => undefined,
          );
          p.ipam.ready(ready.signal).then(
            () => {
              ipamReady = true;
              dirty.next();
            },
            () => undefined,
          );
          // Marking an initializer done changes no row: observe() does not see it.
          waitFor(
            p.db,
            p.tables.frontends,
            () => (p.tables.frontends.initialized(p.db.readTxn()) ? true : undefined),
            Number.POSITIVE_INFINITY,
            () => new Error('never'),
            ready.signal,
          ).then(
            () => dirty.next(),
            () => undefined,
          );
          watcher = new PolicyWatcher({
            file: p.file,
            periodMs: p.filePeriodMs ?? 2000,
            onPolicies: (ps) => {
              policies = ps;
              p.logger.info({ file: p.file, policies: ps.length }, 'BGP peering policies read');
              reconfigure.next();
            },
            onError: (e) => {
              fileProblem = e.message;
              p.logger.warn({ err: e.message }, 'BGP peering policy file not usable');
              policyHealth.degraded(
                'peering policy file not usable (the previous policies stay)',
                e,
              );
            },
          });
          watcher.start();
        },
        onStop: async () => {
          watcher?.stop();
          clearTimeout(retry);
          for (const s of subs.splice(0)) s.unsubscribe();
          reconfigure.complete();
          dirty.complete();
          // Graceful: peers that negotiated graceful restart keep this node's routes meanwhile.
          await speaker?.stop({ graceful: true });
          speaker = undefined;
        },
      },
      'bgp',
    );
  } else {
    // Turned off: the next start with BGP is no graceful restart.
    p.lifecycle.append(
      {
        onStart: () => {
          if (wasRunning(p.stateDir)) forgetRunning(p.stateDir);
        },
      },
      'bgp-off',
    );
  }

  return {
    disabled: p.enabled ? undefined : BGP_DISABLED,
    speaker: () => speaker,
    routers: () => routers,
    advertisements: () => adverts,
    routerId: () => routerId,
    originatedAt: (asn, prefix) => originated.get(`${asn}|${prefix}`),
    problem: () => fileProblem ?? applyProblem ?? (routers.length > 0 ? waiting : undefined),
  };
}
