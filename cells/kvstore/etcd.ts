// The etcd KVStore: plain calls, the session's leased keys, watches, locks, and the status
// probe that keeps the leases alive and says how etcd is doing.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';
import { EtcdLeaseInvalidError, type Etcd3 } from 'etcd3';
import type { Health, Logger } from '../../core/hive/index.js';
import { errorMessage, sleep } from '../../core/hive/index.js';
import { EtcdConn, KVStoreUnreachableError, newEtcd3, type Connectivity } from './client.js';
import type { EtcdTarget } from './config.js';
import type { KVLock, KVStore, KVStoreStatus, KVWatch, KVWatchHandler } from './kvstore.js';
import { LeaseKeeper, SessionKeys } from './session.js';
import { EtcdWatch, prefixEnd } from './watch.js';

/** Cilium's TTL of the lease that binds locks (a dead holder frees them this soon). */
export const LOCK_LEASE_TTL_MS = 25_000;

/** What an EtcdStore needs. */
export interface EtcdStoreParams {
  readonly target: EtcdTarget;
  readonly leaseTtlMs: number;
  readonly connectivityTimeoutMs: number;
  readonly logger: Logger;
  readonly health?: Health;
  /** How often the status probe (and lease keepalive) runs while etcd answers; default 5 s. */
  readonly probeIntervalMs?: number;
}

const key = (k: string): Buffer => Buffer.from(k);

/** The KVStore backed by etcd; start() begins connecting, stop() revokes the leases. */
export class EtcdStore implements KVStore {
  readonly enabled = true;
  readonly conn: EtcdConn;
  /** The session lease (leased keys); exposed for tests and status. */
  readonly session: LeaseKeeper;
  private readonly lockLease: LeaseKeeper;
  private readonly keys: SessionKeys;
  private readonly watches = new Set<EtcdWatch>();
  private readonly statusSubject = new BehaviorSubject<KVStoreStatus>({
    state: 'Warning',
    msg: 'Waiting for initial connection to be established',
  });
  private readonly statusClients = new Map<string, Etcd3>();
  private readonly ac = new AbortController();
  private wake: (() => void) | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly p: EtcdStoreParams) {
    this.conn = new EtcdConn({
      client: newEtcd3(p.target),
      endpoints: p.target.endpoints,
      connectivityTimeoutMs: p.connectivityTimeoutMs,
      onConnectivity: (c) => this.onConnectivity(c),
    });
    this.session = new LeaseKeeper({
      conn: this.conn,
      ttlMs: p.leaseTtlMs,
      logger: p.logger,
      onRenewed: () => this.keys.rewriteAll(),
    });
    this.lockLease = new LeaseKeeper({
      conn: this.conn,
      ttlMs: Math.min(p.leaseTtlMs, LOCK_LEASE_TTL_MS),
      logger: p.logger,
    });
    this.keys = new SessionKeys(this.conn, this.session, p.logger);
  }

  get status$(): Observable<KVStoreStatus> {
    return this.statusSubject.pipe(
      distinctUntilChanged((a, b) => a.state === b.state && a.msg === b.msg),
    );
  }

  status(): KVStoreStatus {
    return this.statusSubject.value;
  }

  /** The keys this agent's session owns, with their values. */
  get sessionKeys(): ReadonlyMap<string, string> {
    return this.keys.keys;
  }

  /** Starts the probe loop: connects, grants the session lease, keeps it alive. */
  start(): void {
    this.p.health?.degraded(this.status().msg);
    this.probing = this.probeLoop();
  }

  /** Stops watches, revokes the leases (this agent's keys vanish) and closes the client. */
  async stop(timeoutMs = 5000): Promise<void> {
    await this.halt();
    await Promise.all([this.session.revoke(timeoutMs), this.lockLease.revoke(timeoutMs)]);
    this.close();
  }

  /**
   * Stops without revoking the leases, as a killed agent would: its keys live until the lease
   * expires (tests of expiry).
   */
  async abandon(): Promise<void> {
    await this.halt();
    this.close();
  }

  private async halt(): Promise<void> {
    this.ac.abort();
    this.wake?.();
    for (const w of [...this.watches]) w.stop();
    await this.probing;
  }

  private close(): void {
    this.conn.close();
    for (const c of this.statusClients.values()) c.close();
    this.p.health?.stopped('stopped');
  }

  async get(k: string, signal?: AbortSignal): Promise<string | undefined> {
    const res = await this.conn.call(
      `get ${k}`,
      (o) => this.conn.client.kv.range({ key: key(k) }, o),
      signal,
    );
    return res.kvs[0]?.value.toString();
  }

  async list(prefix: string, signal?: AbortSignal): Promise<Map<string, string>> {
    const res = await this.conn.call(
      `list ${prefix}`,
      (o) => this.conn.client.kv.range({ key: key(prefix), range_end: prefixEnd(prefix) }, o),
      signal,
    );
    return new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
  }

  async put(
    k: string,
    value: string,
    opts: { lease?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    if (opts.lease) {
      await this.keys.write(k, value, 'put', opts.signal);
      return;
    }
    await this.keys.serial(k, async () => {
      this.keys.forget(k);
      await this.conn.call(
        `put ${k}`,
        (o) => this.conn.client.kv.put({ key: key(k), value: key(value) }, o),
        opts.signal,
      );
    });
  }

  async create(
    k: string,
    value: string,
    opts: { lease?: boolean; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    if (opts.lease) return this.keys.write(k, value, 'create', opts.signal);
    return this.keys.serial(k, async () => {
      const res = await this.conn.call(
        `create ${k}`,
        (o) =>
          this.conn.client.kv.txn(
            {
              compare: [{ key: key(k), target: 'Create', result: 'Equal', create_revision: 0 }],
              success: [{ request_put: { key: key(k), value: key(value) } }],
            },
            o,
          ),
        opts.signal,
      );
      return res.succeeded;
    });
  }

  async delete(k: string, signal?: AbortSignal): Promise<void> {
    await this.keys.serial(k, async () => {
      this.keys.forget(k);
      await this.conn.call(
        `delete ${k}`,
        (o) => this.conn.client.kv.deleteRange({ key: key(k) }, o),
        signal,
      );
    });
  }

  deleteIfValue(k: string, value: string, signal?: AbortSignal): Promise<boolean> {
    return this.keys.serial(k, async () => {
      this.keys.forget(k, value);
      const res = await this.conn.call(
        `delete ${k}`,
        (o) =>
          this.conn.client.kv.txn(
            {
              compare: [{ key: key(k), target: 'Value', result: 'Equal', value: key(value) }],
              success: [{ request_delete_range: { key: key(k) } }],
            },
            o,
          ),
        signal,
      );
      return res.succeeded;
    });
  }

  async lock(path: string, signal?: AbortSignal): Promise<KVLock> {
    const token = `${hostname()}/${process.pid}/${randomBytes(6).toString('hex')}`;
    for (;;) {
      const lease = await this.lockLease.get(signal);
      let res;
      try {
        res = await this.conn.call(
          `lock ${path}`,
          (o) =>
            this.conn.client.kv.txn(
              {
                compare: [
                  { key: key(path), target: 'Create', result: 'Equal', create_revision: 0 },
                ],
                success: [{ request_put: { key: key(path), value: key(token), lease } }],
              },
              o,
            ),
          signal,
        );
      } catch (e) {
        if (!(e instanceof EtcdLeaseInvalidError)) throw e;
        this.lockLease.lost(lease);
        continue;
      }
      if (res.succeeded) {
        let released: Promise<void> | undefined;
        return {
          unlock: () => (released ??= this.deleteIfValue(path, token).then(() => undefined)),
        };
      }
      await this.deleted(path, BigInt(res.header.revision) + 1n, signal);
    }
  }

  /** Resolves when `k` is deleted at or after `fromRev` (or the watch breaks: the caller retries). */
  private async deleted(k: string, fromRev: bigint, signal?: AbortSignal): Promise<void> {
    const aborted = (): Error => new Error(`${this.conn.label}: lock: aborted`);
    if (signal?.aborted) throw aborted();
    const stream = await this.conn.client.watchClient.watch();
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(aborted());
        // Aborted while the stream was being opened: no event would ever tell.
        if (signal?.aborted) {
          onAbort();
          return;
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        const done = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        stream.on('data', (r) => {
          if (r.canceled || r.events.some((e) => e.type === 'Delete')) done();
        });
        stream.on('error', () => setTimeout(done, 200));
        stream.on('end', done);
        stream.write({ create_request: { key: key(k), start_revision: String(fromRev) } });
      });
    } finally {
      stream.cancel();
    }
  }

  watch(prefix: string, handler: KVWatchHandler): KVWatch {
    if (this.ac.signal.aborted) throw new Error(`${this.conn.label}: stopped`);
    const w: EtcdWatch = new EtcdWatch({
      conn: this.conn,
      prefix,
      handler,
      logger: this.p.logger,
      onStop: () => this.watches.delete(w),
    });
    this.watches.add(w);
    return w;
  }

  private onConnectivity(c: Connectivity): void {
    if (!c.up)
      this.setStatus({
        state: 'Failure',
        msg: this.statusLine(
          0,
          false,
          this.p.target.endpoints.map((e) => `${e} - ${c.error}`),
        ),
      });
    this.wake?.();
  }

  private setStatus(s: KVStoreStatus): void {
    if (this.ac.signal.aborted) return;
    this.statusSubject.next(s);
    if (s.state === 'Ok') this.p.health?.ok(s.msg);
    else this.p.health?.degraded(s.msg, s.state === 'Failure' ? s.msg : undefined);
  }

  private statusLine(connected: number, quorum: boolean, parts: readonly string[]): string {
    const lease = this.session.hex;
    const total = this.p.target.endpoints.length;
    return `etcd: ${connected}/${total} connected, ${lease !== undefined ? `lease-ID=${lease}, ` : ''}has-quorum=${quorum}: ${parts.join('; ')}`;
  }

  /** Each endpoint's version (or error), the leases kept alive; the status from both. */
  private async probe(timeoutMs: number): Promise<void> {
    const parts: string[] = [];
    let connected = 0;
    for (const ep of this.p.target.endpoints) {
      const client = this.statusClient(ep);
      try {
        const deadline = { deadline: new Date(Date.now() + timeoutMs) };
        // One endpoint: its answer is the client's connectivity; several: each its own client.
        const st =
          client === this.conn.client
            ? await this.conn.attempt('status', timeoutMs, (o) => client.maintenance.status(o))
            : await client.maintenance.status(deadline);
        connected++;
        parts.push(`${ep} - ${st.version}`);
      } catch (e) {
        parts.push(`${ep} - ${errorMessage(e instanceof KVStoreUnreachableError ? e.cause : e)}`);
      }
    }
    let quorum = false;
    let error: string | undefined;
    if (connected > 0) {
      try {
        if (this.session.current === undefined) await this.session.get(this.ac.signal);
        else await this.session.keepAlive(timeoutMs);
        await this.lockLease.keepAlive(timeoutMs);
        quorum = true;
      } catch (e) {
        error = errorMessage(e);
      }
    }
    if (this.ac.signal.aborted) return;
    const msg = this.statusLine(connected, quorum, parts);
    this.setStatus(
      quorum ? { state: 'Ok', msg } : { state: 'Failure', msg: error ? `${msg}: ${error}` : msg },
    );
  }

  private statusClient(ep: string): Etcd3 {
    if (this.p.target.endpoints.length === 1) return this.conn.client;
    let c = this.statusClients.get(ep);
    if (!c) {
      c = newEtcd3({ ...this.p.target, endpoints: [ep] });
      this.statusClients.set(ep, c);
    }
    return c;
  }

  private async probeLoop(): Promise<void> {
    const signal = this.ac.signal;
    const interval = this.p.probeIntervalMs ?? 5000;
    while (!signal.aborted) {
      const timeout = Math.min(5000, this.p.connectivityTimeoutMs);
      try {
        await this.probe(timeout);
      } catch (e) {
        this.p.logger.warn({ err: errorMessage(e) }, 'kvstore status probe failed');
      }
      const ok = this.status().state === 'Ok';
      const wait = ok
        ? Math.min(interval, this.p.leaseTtlMs / 3, LOCK_LEASE_TTL_MS / 3)
        : Math.min(interval, 1000);
      const woken = new AbortController();
      this.wake = () => woken.abort();
      await sleep(wait, AbortSignal.any([signal, woken.signal]));
      this.wake = undefined;
    }
  }
}
