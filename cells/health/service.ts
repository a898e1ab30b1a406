// The health cell at run time: the health API, the node's health server, the prober and the
// health endpoint, started and stopped together. The endpoint's controller, cilium-health-ep,
// is a job of the cell (cell.ts) that calls runController().
import { readFileSync } from 'node:fs';
import type { HealthModel, Model } from '../../core/api/index.js';
import { Subject, type Observable } from 'rxjs';
import { formatDuration, sleep, type Health, type Logger } from '../../core/hive/index.js';
import type { EndpointManager } from '../endpoint/index.js';
import type { Ipam } from '../ipam/index.js';
import type { ClusterNodeList } from '../node/index.js';
import { HealthEndpoint } from './endpoint.js';
import type { HealthConfig } from './config.js';
import { nodeReachable, Prober, failures, type Probes, type ProbeRound } from './prober.js';
import { HealthApiServer, NodeHealthServer } from './servers.js';

/** What the health service needs. */
export interface HealthServiceParams {
  readonly config: HealthConfig;
  readonly socketPath: string;
  readonly nodes: ClusterNodeList;
  /** The local node's IPs, where the node's health server listens. */
  readonly localIps: () => readonly string[];
  readonly endpoints: EndpointManager;
  readonly ipam: Ipam;
  readonly mtu: number;
  readonly probes: Probes;
  /** Why the health endpoint cannot exist here (no root, in-memory maps), or undefined. */
  readonly endpointDisabled: () => string | undefined;
  /** The agent's own state, as /v1/healthz's `cilium` says it (the daemon's AgentStatus). */
  readonly agentState: () => Model<'Status'>;
  readonly health: Health;
  readonly logger: Logger;
}

/** The health cell's running parts and what they report. */
export class HealthService {
  readonly prober: Prober;
  readonly api: HealthApiServer;
  private readonly node: NodeHealthServer;
  private endpoint: HealthEndpoint | undefined;
  private disabled: string | undefined;
  private readonly wakes$ = new Subject<void>();
  private started = Date.now();

  constructor(private readonly p: HealthServiceParams) {
    const timeoutMs = Math.min(5000, p.config.healthProbeInterval);
    this.prober = new Prober({ probes: p.probes, nodes: () => p.nodes.list(), timeoutMs });
    this.api = new HealthApiServer(p.socketPath, p.logger);
    this.node = new NodeHealthServer(p.config.clusterHealthPort, p.logger);
    this.registerRoutes();
  }

  /** Emits when the endpoint's controller should run early (its responder died). */
  get wakes(): Observable<void> {
    return this.wakes$;
  }

  /** Starts the servers and the prober (the endpoint's controller is the cell's job). */
  async start(): Promise<void> {
    const p = this.p;
    this.started = Date.now();
    // Known only now: the maps cell picks its backend when it starts.
    this.disabled = p.config.enableEndpointHealthChecking ? p.endpointDisabled() : undefined;
    this.endpoint =
      p.config.enableEndpointHealthChecking && this.disabled === undefined
        ? new HealthEndpoint({
            endpoints: p.endpoints,
            ipam: p.ipam,
            netnsName: p.config.healthNetns,
            port: p.config.clusterHealthPort,
            mtu: p.mtu,
            health: p.health.scope('endpoint'),
            logger: p.logger,
            publish: (a) => p.nodes.setLocalHealth(a),
            wake: () => this.wakes$.next(),
            // A round once it answers, so the status has it before the next interval (60 s by
            // default); a stopped or idle prober refuses it.
            ready: () => void this.prober.probe().catch(() => undefined),
          })
        : undefined;
    await this.api.start();
    const errors = await this.node.start(this.p.localIps());
    const server = this.p.health.scope('node-server');
    if (errors.length > 0) server.degraded(`cannot listen: ${errors.join('; ')}`);
    else server.ok(`listening on port ${this.p.config.clusterHealthPort} of the node's IPs`);
    if (this.disabled !== undefined) {
      // Not a fault: this agent cannot have one (Cilium's needs the kernel too).
      p.health.scope('endpoint').ok(`disabled: ${this.disabled}`);
    }
    this.prober.start(this.p.config.healthProbeInterval);
    this.p.health.ok(`probing every ${formatDuration(this.p.config.healthProbeInterval)}`);
  }

  /** Stops everything and removes the health endpoint (its netns, link and process). */
  async stop(): Promise<void> {
    // The API first: a PUT /status/probe must not start a round once the prober has stopped.
    await this.api.stop();
    await this.prober.stop();
    await this.endpoint?.stop();
    await this.node.stop();
    this.p.health.stopped('stopped');
  }

  /**
   * Whether this agent runs a health endpoint, once endpoints are restored (endpoint writes
   * wait for restore; the restored health endpoint is reused, not duplicated); false at once
   * when it has none, or when `signal` aborts first.
   */
  async endpointWanted(signal: AbortSignal): Promise<boolean> {
    if (!this.endpoint) return false;
    while (this.p.endpoints.restoring() !== undefined && !signal.aborted) await sleep(50, signal);
    return !signal.aborted;
  }

  /** One run of the cilium-health-ep controller; throws what failed, for the job to count. */
  async ensureEndpoint(): Promise<void> {
    await this.endpoint?.ensure();
  }

  /** The health API's handlers. */
  private registerRoutes(): void {
    const r = this.api.routes;
    r.handleRaw('GetHealthz', () => ({ status: 200, body: this.healthResponse() }), 'health');
    r.handleRaw(
      'GetStatus',
      () => ({ status: 200, body: this.statusResponse(this.prober.result) }),
      'health',
    );
    r.handleRaw(
      'PutStatusProbe',
      async () => ({ status: 200, body: this.statusResponse(await this.prober.probe()) }),
      'health',
    );
  }

  /** GET /v1beta/healthz. */
  healthResponse(): HealthModel<'HealthResponse'> {
    let load: string[] = [];
    try {
      load = readFileSync('/proc/loadavg', 'utf8').split(' ');
    } catch {
      // not Linux: no load
    }
    const c = this.clusterHealth();
    return {
      cilium: {
        cilium: this.p.agentState(),
        cluster: { ciliumHealth: c },
      },
      uptime: formatDuration(Date.now() - this.started),
      'system-load': { last1min: load[0] ?? '', last5min: load[1] ?? '', last15min: load[2] ?? '' },
    };
  }

  /** GET /v1beta/status (and PUT /status/probe): the nodes as a probe round found them. */
  statusResponse(round: ProbeRound | undefined): HealthModel<'HealthStatusResponse'> {
    return {
      local: { name: this.p.nodes.self },
      nodes: [...(round?.nodes ?? [])],
      timestamp: round?.timestamp.toISOString() ?? '',
      probeInterval: formatDuration(this.p.config.healthProbeInterval),
    };
  }

  /** `cluster.ciliumHealth` of /v1/healthz: how many nodes the last round reached. */
  clusterHealth(): Model<'Status'> {
    const round = this.prober.result;
    const why = this.disabled !== undefined ? `; health endpoint disabled: ${this.disabled}` : '';
    if (!round) return { state: 'Warning', msg: `no probe has completed yet${why}` };
    const down = round.nodes.filter((n) => !nodeReachable(n));
    const n = round.nodes.length;
    const head = `${n - down.length}/${n} nodes reachable (${round.timestamp.toISOString()})`;
    if (down.length === 0) return { state: 'Ok', msg: `${head}${why}` };
    const list = down.map((d) => `${d.name ?? ''}: ${failures(d)[0] ?? 'no path'}`).join('; ');
    return { state: 'Warning', msg: `${head}; unreachable: ${list}${why}` };
  }

  /** Adds `cluster.ciliumHealth` to /v1/healthz (its controller is listed with the jobs). */
  contribute(s: Model<'StatusResponse'>, enabled: boolean): void {
    s.cluster = {
      ...s.cluster,
      ciliumHealth: enabled
        ? this.clusterHealth()
        : { state: 'Disabled', msg: 'cilium-health is disabled (--enable-health-checking=false)' },
    };
  }
}
