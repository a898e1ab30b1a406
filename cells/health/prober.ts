// The prober, as cilium-health's (pkg/health/server/prober.go): every interval, every known
// node's IPs and health endpoint IPs are probed with ICMP echo and an HTTP GET to the cluster
// health port, at most `concurrency` probes at a time, each with a timeout; the last result of
// each node is kept.
import type { HealthModel, Model } from '../../core/api/index.js';
export { failures, nodeReachable, pathOk } from '../../core/api/health.js';

type NodeElement = Model<'NodeElement'>;
type ConnectivityStatus = HealthModel<'ConnectivityStatus'>;
type PathStatus = HealthModel<'PathStatus'>;
type NodeStatus = HealthModel<'NodeStatus'>;

/** One probe of one IP: resolves with the round-trip time in ns, rejects with why it failed. */
export type ProbeFn = (ip: string, timeoutMs: number, signal: AbortSignal) => Promise<number>;

/** The network parts of the prober (real: ping and HTTP; doubles in cell tests). */
export interface Probes {
  readonly icmp: ProbeFn;
  readonly http: ProbeFn;
}

/** What the prober needs. */
export interface ProberParams {
  readonly probes: Probes;
  /** The nodes to probe, the local one first (the node cell's list). */
  readonly nodes: () => readonly NodeElement[];
  /** How long one probe may take before it counts as failed (from its start, not its queueing). */
  readonly timeoutMs: number;
  /** How many probes run at once (each ICMP probe is a `ping` process); default 16. */
  readonly concurrency?: number;
  /** The clock (tests may pin it). */
  readonly now?: () => Date;
}

/** The result of the last probe round. */
export interface ProbeRound {
  readonly nodes: readonly NodeStatus[];
  /** When the round ended. */
  readonly timestamp: Date;
}

/** Runs one probe with a timeout; the result as cilium-health's ConnectivityStatus. */
async function probeOne(fn: ProbeFn, ip: string, timeoutMs: number, now: () => Date) {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new Error(`no answer in ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const lastProbed = now().toISOString();
  try {
    const latency = await Promise.race([fn(ip, timeoutMs, ac.signal), timeout]);
    return { latency: Math.round(latency), status: '', lastProbed } satisfies ConnectivityStatus;
  } catch (e) {
    const status = e instanceof Error ? e.message : String(e);
    return { latency: 0, status: status || 'failed', lastProbed } satisfies ConnectivityStatus;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/** A node's IPs of one kind (host or health endpoint): the primary first (IPv4 when it has one). */
export function addressesOf(a: Model<'NodeAddressing'> | undefined): string[] {
  return [a?.ipv4, a?.ipv6].flatMap((e) => (e?.enabled === true && e.ip ? [e.ip] : []));
}

/** Runs at most `n` of the functions given to it at once, the others in order as slots free. */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const next = queue.shift();
      if (next) next();
      else active--;
    }
  };
}

/**
 * Probes every node; rounds never overlap: requests made while a round runs all share the next
 * one (so N concurrent requests cost at most two rounds, not N).
 */
export class Prober {
  private last: ProbeRound | undefined;
  private running: Promise<ProbeRound> | undefined;
  private next: Promise<ProbeRound> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** idle: probe() on demand only (tests); stopped: probe() refuses. */
  private state: 'idle' | 'running' | 'stopped' = 'idle';
  private rounds = 0;
  private readonly now: () => Date;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;

  constructor(private readonly p: ProberParams) {
    this.now = p.now ?? (() => new Date());
    this.limit = limiter(p.concurrency ?? 16);
  }

  /** The last round's result, if one has ended. */
  get result(): ProbeRound | undefined {
    return this.last;
  }

  /** How many rounds have ended. */
  get count(): number {
    return this.rounds;
  }

  /**
   * Probes every node and resolves with the result: a new round at once when none runs, else
   * the next one, shared with every other request made meanwhile.
   */
  probe(): Promise<ProbeRound> {
    if (this.state === 'stopped') return Promise.reject(new Error('the prober is stopped'));
    if (!this.running) return this.begin();
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        if (this.state === 'stopped') throw new Error('the prober is stopped');
        return this.begin();
      });
    return this.next;
  }

  private begin(): Promise<ProbeRound> {
    const r = this.round().finally(() => {
      if (this.running === r) this.running = undefined;
    });
    this.running = r;
    return r;
  }

  /** Probes now and then every `intervalMs` (counted from each round's start) until stop(). */
  start(intervalMs: number): void {
    this.state = 'running';
    const tick = (): void => {
      const started = Date.now();
      // A round that fails (the node list unavailable) is retried at the next tick.
      void this.probe()
        .catch(() => undefined)
        .finally(() => {
          if (this.state !== 'running') return;
          const wait = Math.max(0, intervalMs - (Date.now() - started));
          this.timer = setTimeout(tick, wait);
        });
    };
    tick();
  }

  /** Stops the rounds (probe() refuses from now); resolves once the one in progress has ended. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await this.next?.catch(() => undefined);
  }

  private async path(ip: string): Promise<PathStatus> {
    const { probes, timeoutMs } = this.p;
    const [icmp, http] = await Promise.all([
      this.limit(() => probeOne(probes.icmp, ip, timeoutMs, this.now)),
      this.limit(() => probeOne(probes.http, ip, timeoutMs, this.now)),
    ]);
    return { ip, icmp, http };
  }

  private async node(n: NodeElement): Promise<NodeStatus> {
    const [hostIp, ...hostMore] = addressesOf(n['primary-address']);
    const [epIp, ...epMore] = addressesOf(n['health-endpoint-address']);
    const all = (ips: string[]) => Promise.all(ips.map((ip) => this.path(ip)));
    const [host, hostSecondary, ep, epSecondary] = await Promise.all([
      hostIp === undefined ? undefined : this.path(hostIp),
      all(hostMore),
      epIp === undefined ? undefined : this.path(epIp),
      all(epMore),
    ]);
    return {
      name: n.name ?? '',
      host: {
        ...(host ? { 'primary-address': host } : {}),
        'secondary-addresses': hostSecondary,
      },
      ...(ep
        ? { 'health-endpoint': { 'primary-address': ep, 'secondary-addresses': epSecondary } }
        : {}),
    };
  }

  private async round(): Promise<ProbeRound> {
    const nodes = await Promise.all(this.p.nodes().map((n) => this.node(n)));
    this.last = { nodes, timestamp: this.now() };
    this.rounds++;
    return this.last;
  }
}
