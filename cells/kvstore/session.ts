// The session: a lease kept alive, and the keys this agent bound to it. When etcd says the
// lease is gone (it was away longer than the TTL, or the lease was revoked), a new lease is
// granted and every tracked key is written again under it, each key's writes kept in order.
import { EtcdLeaseInvalidError } from 'etcd3';
import type { Logger } from '../../core/hive/index.js';
import { errorMessage } from '../../core/hive/index.js';
import { abortable, type EtcdConn } from './client.js';

/** What a LeaseKeeper needs. */
export interface LeaseKeeperParams {
  readonly conn: EtcdConn;
  readonly ttlMs: number;
  /** Called (not awaited) when a lease replaced a lost one. */
  readonly onRenewed?: (id: string) => void;
  readonly logger: Logger;
}

/** One lease: granted when first needed, kept alive, granted again when etcd lost it. */
export class LeaseKeeper {
  private id: string | undefined;
  private granting: Promise<string> | undefined;
  private granted = false;
  private stopped = false;

  constructor(private readonly p: LeaseKeeperParams) {}

  /** The lease id now, if one is granted. */
  get current(): string | undefined {
    return this.id;
  }

  /** The lease's id in hex, as etcdctl and Cilium print it. */
  get hex(): string | undefined {
    return this.id === undefined ? undefined : BigInt(this.id).toString(16);
  }

  /** The lease, granting one if there is none (waiting for etcd as every call does). */
  get(signal?: AbortSignal): Promise<string> {
    if (this.stopped) return Promise.reject(new Error(`${this.p.conn.label}: stopped`));
    if (this.id !== undefined) return Promise.resolve(this.id);
    this.granting ??= this.grant().finally(() => (this.granting = undefined));
    return abortable(this.granting, signal, `${this.p.conn.label}: lease grant`);
  }

  private async grant(): Promise<string> {
    const ttl = Math.max(1, Math.round(this.p.ttlMs / 1000));
    const res = await this.p.conn.call('grant lease', (o) =>
      this.p.conn.client.leaseClient.leaseGrant({ TTL: ttl }, o),
    );
    if (this.stopped) {
      await this.p.conn.client.leaseClient.leaseRevoke({ ID: res.ID }).catch(() => undefined);
      throw new Error(`${this.p.conn.label}: stopped`);
    }
    this.id = res.ID;
    const renewed = this.granted;
    this.granted = true;
    this.p.logger.info({ lease: this.hex, ttl }, 'kvstore lease granted');
    if (renewed) this.p.onRenewed?.(res.ID);
    return res.ID;
  }

  /** Marks a lease lost (etcd said it is not found); the next get() grants another. */
  lost(id: string): void {
    if (this.id !== id) return;
    this.p.logger.warn({ lease: this.hex }, 'kvstore lease lost; granting a new one');
    this.id = undefined;
  }

  /**
   * One keepalive (a no-op without a lease); a lease etcd no longer knows is replaced at once.
   * Throws on connectivity errors (the caller's probe reports them).
   */
  async keepAlive(timeoutMs: number): Promise<void> {
    const id = this.id;
    if (id === undefined) {
      if (this.granted) await this.get();
      return;
    }
    const ttl = await this.p.conn.attempt('lease keepalive', timeoutMs, async (o) => {
      const stream = await this.p.conn.client.leaseClient.leaseKeepAlive(o);
      try {
        return await new Promise<string>((resolve, reject) => {
          stream.on('data', (r) => resolve(r.TTL));
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('keepalive stream ended')));
          stream.write({ ID: id });
        });
      } finally {
        stream.end();
      }
    });
    if (ttl === '0') {
      this.lost(id);
      await this.get();
    }
  }

  /** Revokes the lease (its keys vanish at once); one attempt, errors logged. */
  async revoke(timeoutMs: number): Promise<void> {
    this.stopped = true;
    const id = this.id;
    this.id = undefined;
    if (id === undefined) return;
    try {
      await this.p.conn.attempt('revoke lease', timeoutMs, (o) =>
        this.p.conn.client.leaseClient.leaseRevoke({ ID: id }, o),
      );
    } catch (e) {
      if (!(e instanceof EtcdLeaseInvalidError)) {
        this.p.logger.warn({ err: errorMessage(e) }, 'kvstore: could not revoke the lease');
      }
    }
  }
}

/** How a tracked key was written: `create` keys are re-created only where nobody else wrote. */
type Mode = 'put' | 'create';

interface Tracked {
  readonly value: string;
  readonly mode: Mode;
}

/** The session's keys: written under the lease, re-written when the lease is renewed. */
export class SessionKeys {
  private readonly tracked = new Map<string, Tracked>();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly conn: EtcdConn,
    private readonly lease: LeaseKeeper,
    private readonly logger: Logger,
  ) {}

  /** The tracked keys and values (tests, debugging). */
  get keys(): ReadonlyMap<string, string> {
    return new Map([...this.tracked].map(([k, t]) => [k, t.value]));
  }

  /** Runs `fn` after every earlier operation on `key` has settled. */
  serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }

  /** Writes a key under the lease and tracks it; for `create`, only if absent (false if not). */
  write(key: string, value: string, mode: Mode, signal?: AbortSignal): Promise<boolean> {
    return this.serial(key, async () => {
      const entry: Tracked = { value, mode };
      if (mode === 'put') this.tracked.set(key, entry);
      try {
        const ok = await this.leased(key, value, mode, signal);
        if (ok && mode === 'create') this.tracked.set(key, entry);
        return ok;
      } catch (e) {
        if (this.tracked.get(key) === entry) this.tracked.delete(key);
        throw e;
      }
    });
  }

  /** Stops tracking a key (it is being deleted). */
  forget(key: string, value?: string): void {
    if (value === undefined || this.tracked.get(key)?.value === value) this.tracked.delete(key);
  }

  private async leased(
    key: string,
    value: string,
    mode: Mode,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const kv = this.conn.client.kv;
    for (;;) {
      const lease = await this.lease.get(signal);
      const put = { key: Buffer.from(key), value: Buffer.from(value), lease };
      try {
        if (mode === 'put') {
          await this.conn.call(`put ${key}`, (o) => kv.put(put, o), signal);
          return true;
        }
        const res = await this.conn.call(
          `create ${key}`,
          (o) =>
            kv.txn(
              {
                compare: [{ key: put.key, target: 'Create', result: 'Equal', create_revision: 0 }],
                success: [{ request_put: put }],
              },
              o,
            ),
          signal,
        );
        return res.succeeded;
      } catch (e) {
        if (!(e instanceof EtcdLeaseInvalidError)) throw e;
        this.lease.lost(lease);
      }
    }
  }

  /** After a lease renewal: writes every tracked key again, each in its key's order. */
  rewriteAll(): void {
    const keys = [...this.tracked.keys()];
    this.logger.info({ keys: keys.length }, 'kvstore: writing session keys under the new lease');
    for (const key of keys) {
      void this.serial(key, () => this.rewrite(key)).catch((e: unknown) =>
        this.logger.warn(
          { key, err: errorMessage(e) },
          'kvstore: could not re-write a session key',
        ),
      );
    }
  }

  private async rewrite(key: string): Promise<void> {
    const t = this.tracked.get(key);
    if (t === undefined) return;
    if (await this.leased(key, t.value, t.mode)) return;
    // Someone created the key while ours was gone: keep it bound to us only if it is ours.
    const kv = this.conn.client.kv;
    const lease = await this.lease.get();
    const res = await this.conn.call(`re-bind ${key}`, (o) =>
      kv.txn(
        {
          compare: [
            {
              key: Buffer.from(key),
              target: 'Value',
              result: 'Equal',
              value: Buffer.from(t.value),
            },
          ],
          success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(t.value), lease } }],
        },
        o,
      ),
    );
    if (!res.succeeded && this.tracked.get(key) === t) {
      this.tracked.delete(key);
      this.logger.warn(
        { key },
        'kvstore: a session key was re-created by another writer; no longer ours',
      );
    }
  }
}
