/** Where a restart's time went until every restored endpoint was reconciled, in ms. */
export interface RestoreSplit {
  /** Process start → restore start (the hive's jobs start): Node, loading, hive construction. */
  readonly processStart: number;
  /** Listing the state directory and the host devices, reading and validating state files. */
  readonly stateRead: number;
  /** Re-reserving the endpoints' IPs and restoring their identities. */
  readonly ipamIdentity: number;
  /**
   * The rest of restore start → reconciled: the statedb writes (endpoints and ipcache tables)
   * and the reconcilers' writes into cellium_lxc and cellium_ipcache, which run between
   * restore's slices and after them. The reconcilers share the event loop with the API, so
   * requests served meanwhile are counted here too.
   */
  readonly maps: number;
  /** bpf_lxc attached to the endpoints' veths (0 on in-memory maps). */
  readonly attach: number;
  /** Process start → every restored endpoint and ipcache entry reconciled (ready or failing). */
  readonly total: number;
  /** How many endpoints were restored. */
  readonly endpoints: number;
}

/** The phases timed inside restore and the datapath. */
export type RestorePhase = 'stateRead' | 'ipamIdentity' | 'attach';

/**
 * Measures one restore: the busy time of each timed phase, and the rest of the wall time until
 * the tables are reconciled as `maps`. Single-threaded, so busy times of different phases
 * never overlap, and with the rest they add up to the total.
 */
export class RestoreClock {
  /** Process uptime (ms) when the restore started. */
  readonly processStart = process.uptime() * 1000;
  private readonly t0 = performance.now();
  private readonly busy = new Map<RestorePhase, number>();
  private result: RestoreSplit | undefined;

  /** Runs `fn`, counting its time to `phase`. */
  time<T>(phase: RestorePhase, fn: () => T): T {
    const t = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, performance.now() - t);
    }
  }

  /** Counts `ms` to `phase` (from the datapath, e.g. attach); ignored once finished. */
  add(phase: RestorePhase, ms: number): void {
    if (this.result) return;
    this.busy.set(phase, (this.busy.get(phase) ?? 0) + Math.max(0, ms));
  }

  /** Both tables are reconciled: the split is final. */
  finish(endpoints: number): RestoreSplit {
    if (this.result) return this.result;
    const elapsed = performance.now() - this.t0;
    const stateRead = this.busy.get('stateRead') ?? 0;
    const ipamIdentity = this.busy.get('ipamIdentity') ?? 0;
    const attach = this.busy.get('attach') ?? 0;
    // Phases rounded down and the total up (0.1 ms): rounding never makes them exceed it.
    const ms = (x: number): number => Math.floor(x * 10) / 10;
    this.result = {
      processStart: ms(this.processStart),
      stateRead: ms(stateRead),
      ipamIdentity: ms(ipamIdentity),
      maps: ms(Math.max(0, elapsed - stateRead - ipamIdentity - attach)),
      attach: ms(attach),
      total: Math.ceil((this.processStart + elapsed) * 10) / 10,
      endpoints,
    };
    return this.result;
  }

  /** The final split, once finished. */
  get split(): RestoreSplit | undefined {
    return this.result;
  }
}

/** The split as one line, for health and /debuginfo. */
export function formatSplit(s: RestoreSplit): string {
  const r = (x: number): string => x.toFixed(0);
  return (
    `${s.endpoints} endpoints reconciled ${r(s.total)} ms after process start ` +
    `(process start ${r(s.processStart)} ms, state read ${r(s.stateRead)} ms, ` +
    `IPAM/identity ${r(s.ipamIdentity)} ms, maps ${r(s.maps)} ms, attach ${r(s.attach)} ms)`
  );
}
