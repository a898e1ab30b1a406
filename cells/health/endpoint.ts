// The health endpoint, as Cilium's cilium-health-ep: a network namespace of its own (named by
// --health-netns), a veth pair (lxc_health, or lxc_h<hash> for another namespace name, in the
// agent's namespace; eth0 inside), addresses from IPAM (owner `health`), registered as an
// endpoint labelled reserved:health (identity 4), and cellium-health-responder serving HTTP
// inside. The controller `cilium-health-ep` (a job of the health cell) calls ensure() every
// interval and when the responder dies; stop removes all of it. Only this agent's pair is ever
// deleted: through its end inside the health namespace, which no other agent shares.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Model } from '../../core/api/index.js';
import type { Family } from '../../core/ip.js';
import type { Health, Logger } from '../../core/hive/index.js';
import {
  addPodLink,
  delLink,
  delPodLink,
  inspectLink,
  openNetlinkIn,
} from '../../core/net/index.js';
import type { EndpointManager } from '../endpoint/index.js';
import type { Ipam } from '../ipam/index.js';
import type { HealthAddresses } from '../node/index.js';
import { Responder } from './responder-process.js';

const run = promisify(execFile);

/** The default --health-netns, whose host-side veth is Cilium's `lxc_health`. */
export const DEFAULT_HEALTH_NETNS = 'cellium-health';
/** The endpoint's container id (and so its IPAM owner). */
export const HEALTH_OWNER = 'health';
/** The controller that keeps the health endpoint running, as Cilium names it. */
export const HEALTH_CONTROLLER = 'cilium-health-ep';
/** The veth end inside the health namespace, and its name before the rename. */
const POD_IF = 'eth0';
const TMP_IF = 'tmp_health';
/** How long a responder may take to listen before the run fails. */
const RESPONDER_START_MS = 10_000;

/**
 * The host side of the health endpoint's veth: Cilium's `lxc_health` for the default namespace,
 * else `lxc_h` and 10 hex digits of the namespace name's SHA-256 (15 bytes, IFNAMSIZ - 1), so two
 * agents with distinct --health-netns on one host never share a name.
 */
export function healthHostIf(netns: string): string {
  if (netns === DEFAULT_HEALTH_NETNS) return 'lxc_health';
  return `lxc_h${createHash('sha256').update(netns).digest('hex').slice(0, 10)}`;
}

/** Why this agent cannot have a health endpoint (Cilium's needs the kernel too), or undefined. */
export function endpointBlocker(root: boolean, backend: string): string | undefined {
  if (!root) return 'the agent is not root (no network namespace or veth can be made)';
  if (backend !== 'kernel') return 'the datapath runs on in-memory maps (no bpf_lxc for it)';
  return undefined;
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
  /** Runs the controller early (the responder died). */
  readonly wake: () => void;
  /** The endpoint answers: its responder has just (re)started listening. */
  readonly ready: () => void;
}

/** Thrown by a run that finds the endpoint stopped under it. */
class Stopped extends Error {
  constructor() {
    super('the health endpoint is stopping');
  }
}

/** The health endpoint and its responder. */
export class HealthEndpoint {
  /** The host side of its veth. */
  readonly hostIf: string;
  private responder: Responder | undefined;
  private addrs: HealthAddresses | undefined;
  private readonly netnsPath: string;
  private stopped = false;
  /** The run in progress: runs (and stop) go one after the other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly p: HealthEndpointParams) {
    this.netnsPath = `/run/netns/${p.netnsName}`;
    this.hostIf = healthHostIf(p.netnsName);
  }

  /** The endpoint's addresses, once it exists. */
  get addresses(): HealthAddresses | undefined {
    return this.addrs;
  }

  /**
   * One run of the controller: creates (or reuses) what is missing. Runs one at a time; throws
   * what went wrong (the job counts it as the controller's failure).
   */
  ensure(): Promise<void> {
    const r = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await this.ensureOnce();
        this.p.health.ok(
          `health endpoint ${[this.addrs?.ipv4, this.addrs?.ipv6].filter(Boolean).join(', ')} in netns ${this.p.netnsName}`,
        );
      } catch (e) {
        if (e instanceof Stopped || this.isStopped()) return; // stop() killed what it waited for
        const msg = e instanceof Error ? e.message : String(e);
        this.p.health.degraded(`health endpoint: ${msg}`);
        this.p.logger.warn({ err: msg }, 'health endpoint could not be launched');
        throw e;
      }
    });
    this.queue = r.catch(() => undefined);
    return r;
  }

  /** Whether stop() has begun (a method: TypeScript's narrowing does not see it across awaits). */
  private isStopped(): boolean {
    return this.stopped;
  }

  /** After every await: a run that stop() overtook leaves the rest to stop(). */
  private check(): void {
    if (this.isStopped()) throw new Stopped();
  }

  private async ensureOnce(): Promise<void> {
    const { endpoints } = this.p;
    const ep = endpoints.find({ kind: 'container-id', value: HEALTH_OWNER });
    // Its link must be the one the endpoint recorded (same name and index), not a namesake.
    const usable =
      ep !== undefined &&
      existsSync(this.netnsPath) &&
      ep.ifName === this.hostIf &&
      inspectLink(this.hostIf)?.index === ep.ifIndex;
    if (ep && !usable) {
      // Restored from a run that died, but its namespace or link is gone: start afresh.
      await endpoints.delete({ kind: 'cilium-local', id: ep.id });
      this.check();
      this.removeOwnPair();
    }
    if (ep && usable) {
      this.addrs = {
        ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}),
        ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}),
      };
    } else {
      this.addrs = await this.create();
      this.check();
    }
    this.p.publish(this.addrs);
    if (!this.responder?.running) {
      await this.responder?.kill();
      this.check();
      const r = new Responder({
        netns: this.netnsPath,
        port: this.p.port,
        logger: this.p.logger,
        // Only wakes the controller: its next run relaunches it (runs never overlap).
        onExit: () => this.p.wake(),
      });
      this.responder = r;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          r.started,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              reject(
                new Error(`cellium-health-responder did not listen in ${RESPONDER_START_MS} ms`),
              );
            }, RESPONDER_START_MS);
          }),
        ]);
      } catch (e) {
        await r.kill();
        throw e;
      } finally {
        clearTimeout(timer);
      }
      this.check();
      this.p.ready();
    }
  }

  /**
   * Deletes this agent's veth pair, if any, through its end inside the health namespace (a veth
   * goes with its peer): a link of the same name that is not this agent's stays.
   */
  private removeOwnPair(): void {
    if (!existsSync(this.netnsPath)) return;
    const s = openNetlinkIn(this.netnsPath);
    try {
      delLink(s, POD_IF, { missingOk: true });
      delLink(s, TMP_IF, { missingOk: true });
    } finally {
      s.close();
    }
  }

  private async create(): Promise<HealthAddresses> {
    const { ipam, endpoints } = this.p;
    if (!existsSync(this.netnsPath)) await run('ip', ['netns', 'add', this.p.netnsName]);
    this.check();
    // A pair left by a run that died before its endpoint was saved.
    this.removeOwnPair();
    if (inspectLink(this.hostIf) !== undefined) {
      throw new Error(
        `${this.hostIf} exists and is not this agent's (no peer in netns ${this.p.netnsName}); not deleted`,
      );
    }
    const ips: { family: Family; ip: string; gateway: string }[] = [];
    const undo: (() => Promise<unknown>)[] = [];
    try {
      // The pools may come later (IPAM mode kubernetes): families() waits for them.
      for (const family of await ipam.families()) {
        const pool = ipam.pools.get(family);
        if (!pool) continue;
        const a = await ipam.allocateNext(family, HEALTH_OWNER);
        undo.push(() => ipam.release(a.ip));
        this.check();
        ips.push({ family, ip: a.ip, gateway: pool.router });
      }
      if (ips.length === 0) throw new Error('IPAM has no enabled family');
      const link = addPodLink({
        hostName: this.hostIf,
        tmpName: TMP_IF,
        podName: POD_IF,
        netns: this.netnsPath,
        mtu: this.p.mtu,
        ips,
      });
      undo.push(() => Promise.resolve(delPodLink(this.hostIf))); // just made: ours
      const v4 = ips.find((i) => i.family === 'ipv4')?.ip;
      const v6 = ips.find((i) => i.family === 'ipv6')?.ip;
      const req: Model<'EndpointChangeRequest'> = {
        addressing: { ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) },
        'container-id': HEALTH_OWNER,
        'container-name': 'cilium-health',
        labels: ['reserved:health'],
        'interface-name': this.hostIf,
        'interface-index': link.host.index,
        mac: link.pod.mac,
        'host-mac': link.host.mac,
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
        'datapath-configuration': {},
      };
      const ep = await endpoints.create({ kind: 'cilium-local', id: 0 }, req, { agent: true });
      // Stopped meanwhile: the endpoint stays for stop() to delete with the rest.
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

  /**
   * Removes everything: the responder, the endpoint (its IPs go back), its veth pair, the netns.
   * Waits for a run in progress, which stops at its next step; no run starts after.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    // Killed first, so a run waiting for it to listen ends now rather than at its timeout.
    await this.responder?.kill();
    await this.queue;
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
      this.removeOwnPair();
    } catch (e) {
      this.p.logger.warn({ err: e }, `${this.hostIf} could not be deleted`);
    }
    if (existsSync(this.netnsPath)) {
      await run('ip', ['netns', 'del', this.p.netnsName]).catch((e: unknown) =>
        this.p.logger.warn({ err: e }, `netns ${this.p.netnsName} could not be deleted`),
      );
    }
    this.p.health.stopped('health endpoint removed');
  }
}
