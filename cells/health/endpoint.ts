// The health endpoint, as Cilium's cilium-health-ep: a network namespace of its own (named by
// --health-netns), a veth pair (lxc_health in the agent's namespace, eth0 inside), addresses
// from IPAM (owner `health`), registered as an endpoint labelled reserved:health (identity 4),
// and cellium-health-responder serving HTTP inside. The controller `cilium-health-ep` checks it
// every interval and relaunches what is missing; stop removes all of it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Model } from '../../core/api/index.js';
import type { Family } from '../../core/ip.js';
import type { Health, Logger } from '../../core/hive/index.js';
import { addPodLink, delPodLink, inspectLink } from '../../core/net/index.js';
import type { EndpointManager } from '../endpoint/index.js';
import type { Ipam } from '../ipam/index.js';
import type { HealthAddresses } from '../node/index.js';
import { Responder } from './responder-process.js';

const run = promisify(execFile);

/** The host side of the health endpoint's veth, as Cilium names it. */
export const HEALTH_HOST_IF = 'lxc_health';
/** The endpoint's container id (and so its IPAM owner). */
export const HEALTH_OWNER = 'health';
/** The controller that keeps the health endpoint running, as Cilium names it. */
export const HEALTH_CONTROLLER = 'cilium-health-ep';

/** Why this agent cannot have a health endpoint (Cilium's needs the kernel too), or undefined. */
export function endpointBlocker(root: boolean, backend: string): string | undefined {
  if (!root) return 'the agent is not root (no network namespace or veth can be made)';
  if (backend !== 'kernel') return 'the datapath runs on in-memory maps (no bpf_lxc for it)';
  return undefined;
}

/** The counts of a controller, as ControllerStatus shows them. */
export interface ControllerCounts {
  successCount: number;
  failureCount: number;
  consecutiveFailureCount: number;
  lastSuccess?: Date;
  lastFailure?: Date;
  lastFailureMsg?: string;
}

/** What the health endpoint needs. */
export interface HealthEndpointParams {
  readonly endpoints: EndpointManager;
  readonly ipam: Ipam;
  readonly netnsName: string;
  readonly port: number;
  readonly mtu: number;
  readonly health: Health;
  readonly logger: Logger;
  /** Tells the node cell the local node's health endpoint addresses. */
  readonly publish: (addrs: HealthAddresses | undefined) => void;
}

/** The health endpoint and its responder. */
export class HealthEndpoint {
  readonly counts: ControllerCounts = {
    successCount: 0,
    failureCount: 0,
    consecutiveFailureCount: 0,
  };
  private responder: Responder | undefined;
  private addrs: HealthAddresses | undefined;
  private readonly netnsPath: string;

  constructor(private readonly p: HealthEndpointParams) {
    this.netnsPath = `/run/netns/${p.netnsName}`;
  }

  /** The endpoint's addresses, once it exists. */
  get addresses(): HealthAddresses | undefined {
    return this.addrs;
  }

  /** One run of the controller: creates (or reuses) what is missing; counts the outcome. */
  async ensure(): Promise<void> {
    try {
      await this.ensureOnce();
      this.counts.successCount++;
      this.counts.consecutiveFailureCount = 0;
      this.counts.lastSuccess = new Date();
      this.p.health.ok(
        `health endpoint ${[this.addrs?.ipv4, this.addrs?.ipv6].filter(Boolean).join(', ')} in netns ${this.p.netnsName}`,
      );
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.counts.failureCount++;
      this.counts.consecutiveFailureCount++;
      this.counts.lastFailure = new Date();
      this.counts.lastFailureMsg = msg;
      this.p.health.degraded(`health endpoint: ${msg}`, e);
      this.p.logger.warn({ err: msg }, 'health endpoint could not be launched');
    }
  }

  private async ensureOnce(): Promise<void> {
    const { endpoints } = this.p;
    const ep = endpoints.find({ kind: 'container-id', value: HEALTH_OWNER });
    const usable =
      ep !== undefined && existsSync(this.netnsPath) && inspectLink(HEALTH_HOST_IF) !== undefined;
    if (ep && !usable) {
      // Restored from a run that died, but its namespace or link is gone: start afresh.
      await endpoints.delete({ kind: 'cilium-local', id: ep.id });
      delPodLink(HEALTH_HOST_IF);
    }
    if (ep && usable) {
      this.addrs = {
        ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}),
        ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}),
      };
    } else {
      this.addrs = await this.create();
    }
    this.p.publish(this.addrs);
    if (!this.responder?.running) {
      await this.responder?.kill();
      this.responder = new Responder({
        netns: this.netnsPath,
        port: this.p.port,
        logger: this.p.logger,
        // Relaunched at once when it dies (the controller also checks every interval).
        onExit: () => void this.ensure(),
      });
      await this.responder.started;
    }
  }

  private async create(): Promise<HealthAddresses> {
    const { ipam, endpoints } = this.p;
    if (!existsSync(this.netnsPath)) await run('ip', ['netns', 'add', this.p.netnsName]);
    // A link left by a run that died before its endpoint was saved.
    delPodLink(HEALTH_HOST_IF);
    const ips: { family: Family; ip: string; gateway: string }[] = [];
    const undo: (() => Promise<unknown>)[] = [];
    try {
      for (const family of ['ipv4', 'ipv6'] as const) {
        const pool = ipam.pools.get(family);
        if (!pool) continue;
        const a = await ipam.allocateNext(family, HEALTH_OWNER);
        undo.push(() => ipam.release(a.ip));
        ips.push({ family, ip: a.ip, gateway: pool.router });
      }
      if (ips.length === 0) throw new Error('IPAM has no enabled family');
      const link = addPodLink({
        hostName: HEALTH_HOST_IF,
        tmpName: 'tmp_health',
        podName: 'eth0',
        netns: this.netnsPath,
        mtu: this.p.mtu,
        ips,
      });
      undo.push(() => Promise.resolve(delPodLink(HEALTH_HOST_IF)));
      const v4 = ips.find((i) => i.family === 'ipv4')?.ip;
      const v6 = ips.find((i) => i.family === 'ipv6')?.ip;
      const req: Model<'EndpointChangeRequest'> = {
        addressing: { ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) },
        'container-id': HEALTH_OWNER,
        'container-name': 'cilium-health',
        labels: ['reserved:health'],
        'interface-name': HEALTH_HOST_IF,
        'interface-index': link.host.index,
        mac: link.pod.mac,
        'host-mac': link.host.mac,
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
        'datapath-configuration': {},
      };
      const ep = await endpoints.create({ kind: 'cilium-local', id: 0 }, req, { agent: true });
      this.p.logger.info(
        { endpoint: ep.id, ipv4: v4, ipv6: v6, netns: this.p.netnsName },
        'health endpoint created',
      );
      return { ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) };
    } catch (e) {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      throw e;
    }
  }

  /** Removes everything: the responder, the endpoint (its IPs go back), the link, the netns. */
  async stop(): Promise<void> {
    const r = this.responder;
    this.responder = undefined;
    await r?.kill();
    this.p.publish(undefined);
    this.addrs = undefined;
    const ep = this.p.endpoints.find({ kind: 'container-id', value: HEALTH_OWNER });
    try {
      if (ep) await this.p.endpoints.delete({ kind: 'cilium-local', id: ep.id });
    } catch (e) {
      this.p.logger.warn({ err: e }, 'health endpoint could not be deleted');
    }
    try {
      delPodLink(HEALTH_HOST_IF);
    } catch (e) {
      this.p.logger.warn({ err: e }, `${HEALTH_HOST_IF} could not be deleted`);
    }
    if (existsSync(this.netnsPath)) {
      await run('ip', ['netns', 'del', this.p.netnsName]).catch((e: unknown) =>
        this.p.logger.warn({ err: e }, `netns ${this.p.netnsName} could not be deleted`),
      );
    }
    this.p.health.stopped('health endpoint removed');
  }
}
