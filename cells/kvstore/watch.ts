// A watch of one prefix: list it at revision R, then follow its events from R+1 on a watch
// stream; after a disconnect, follow again from the last revision delivered; when etcd has
// compacted that revision away, list again and deliver only the difference. Each revision's
// event is delivered once, in order.
import type { IKeyValue } from 'etcd3';
import type { Logger } from '../../core/hive/index.js';
import { errorMessage, sleep } from '../../core/hive/index.js';
import { isConnectivityError, type EtcdConn } from './client.js';
import type { KVEvent, KVWatch, KVWatchHandler } from './kvstore.js';

/** The end of etcd's range for every key starting with `prefix` (etcd's "prefix end"). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] ?? 0) < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = (end[i] ?? 0) + 1;
      return end;
    }
  }
  return Buffer.from([0]); // every key
}

type FollowEnd = 'disconnected' | 'compacted';

/** What an EtcdWatch needs. */
export interface EtcdWatchParams {
  readonly conn: EtcdConn;
  readonly prefix: string;
  readonly handler: KVWatchHandler;
  readonly logger: Logger;
  /** Called once when the watch stops. */
  readonly onStop?: () => void;
}

/** A running watch (see the file comment). */
export class EtcdWatch implements KVWatch {
  private readonly known = new Map<string, string>();
  private rev = 0n;
  private isSynced = false;
  private readonly ac = new AbortController();
  private syncWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private cancelStream: (() => void) | undefined;

  constructor(private readonly p: EtcdWatchParams) {
    void this.run();
  }

  get synced(): boolean {
    return this.isSynced;
  }

  /** The last revision delivered (listing or event). */
  get revision(): bigint {
    return this.rev;
  }

  waitSynced(signal?: AbortSignal): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    if (this.ac.signal.aborted) return Promise.reject(new Error('watch stopped'));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this.syncWaiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          this.syncWaiters = this.syncWaiters.filter((x) => x !== w);
          reject(new Error(`waiting for the watch of ${this.p.prefix}: aborted`));
        },
        { once: true },
      );
    });
  }

  stop(): void {
    if (this.ac.signal.aborted) return;
    this.ac.abort();
    this.cancelStream?.();
    for (const w of this.syncWaiters) w.reject(new Error('watch stopped'));
    this.syncWaiters = [];
    this.p.onStop?.();
  }

  private isStopped(): boolean {
    return this.ac.signal.aborted;
  }

  private async run(): Promise<void> {
    let list = true;
    let attempt = 0;
    while (!this.isStopped()) {
      let wait = true;
      try {
        if (list) {
          await this.list();
          list = false;
        }
        if ((await this.follow(() => (attempt = 0))) === 'compacted') {
          list = true;
          wait = false;
        }
      } catch (e) {
        if (this.isStopped()) break;
        const level = isConnectivityError(e) ? 'debug' : 'warn';
        this.p.logger[level](
          { prefix: this.p.prefix, err: errorMessage(e) },
          'kvstore watch failed; retrying',
        );
      }
      if (wait) await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt++, 6)), this.ac.signal);
    }
  }

  private deliver(e: KVEvent): void {
    try {
      this.p.handler.onEvent(e);
    } catch (err) {
      this.p.logger.error({ key: e.key, err: errorMessage(err) }, 'kvstore watch handler threw');
    }
  }

  /** Lists the prefix and delivers what differs from what was delivered before. */
  private async list(): Promise<void> {
    const kv = this.p.conn.client.kv;
    const res = await this.p.conn.call(
      `list ${this.p.prefix}`,
      (o) => kv.range({ key: Buffer.from(this.p.prefix), range_end: prefixEnd(this.p.prefix) }, o),
      this.ac.signal,
    );
    if (this.ac.signal.aborted) return;
    const now = new Map<string, string>();
    for (const item of res.kvs) now.set(item.key.toString(), item.value.toString());
    for (const [key, value] of this.known) {
      if (!now.has(key)) {
        this.known.delete(key);
        this.deliver({ kind: 'delete', key, value });
      }
    }
    for (const [key, value] of now) {
      if (this.known.get(key) === value) continue;
      this.known.set(key, value);
      this.deliver({ kind: 'upsert', key, value });
    }
    this.rev = BigInt(res.header.revision);
    this.isSynced = true;
    for (const w of this.syncWaiters) w.resolve();
    this.syncWaiters = [];
    try {
      this.p.handler.onSynced?.();
    } catch (err) {
      this.p.logger.error({ err: errorMessage(err) }, 'kvstore watch onSynced threw');
    }
  }

  /** Follows events from the revision after the last delivered, until the stream ends. */
  private async follow(onCreated: () => void): Promise<FollowEnd> {
    const stream = await this.p.conn.client.watchClient.watch();
    // Events of one revision (a revoked lease's keys) share it: only older ones are repeats.
    const from = this.rev;
    return new Promise<FollowEnd>((resolve, reject) => {
      let done = false;
      const finish = (f: () => void): void => {
        if (done) return;
        done = true;
        this.cancelStream = undefined;
        stream.cancel();
        f();
      };
      this.cancelStream = () => finish(() => resolve('disconnected'));
      stream.on('data', (res) => {
        if (done) return;
        if (res.canceled) {
          if (BigInt(res.compact_revision) > 0n) {
            this.p.logger.info(
              {
                prefix: this.p.prefix,
                from: String(this.rev + 1n),
                compacted: res.compact_revision,
              },
              'kvstore watch: revision compacted; listing again',
            );
            finish(() => resolve('compacted'));
          } else {
            finish(() => reject(new Error(`watch canceled by etcd: ${res.cancel_reason}`)));
          }
          return;
        }
        if (res.created) {
          this.p.conn.mark({ up: true });
          onCreated();
        }
        for (const ev of res.events) {
          const key = ev.kv.key.toString();
          const rev = BigInt(ev.kv.mod_revision);
          if (rev <= from) continue;
          this.rev = rev;
          if (ev.type === 'Put') {
            const value = ev.kv.value.toString();
            this.known.set(key, value);
            this.deliver({ kind: 'upsert', key, value });
          } else {
            const value = this.known.get(key) ?? (ev.prev_kv as IKeyValue | null)?.value.toString();
            this.known.delete(key);
            this.deliver({ kind: 'delete', key, ...(value !== undefined ? { value } : {}) });
          }
        }
      });
      const lost = (e: unknown): void => {
        if (isConnectivityError(e)) this.p.conn.mark({ up: false, error: errorMessage(e) });
        finish(() => resolve('disconnected'));
      };
      stream.on('error', lost);
      stream.on('end', () => lost(new Error('watch stream ended')));
      stream.write({
        create_request: {
          key: Buffer.from(this.p.prefix),
          range_end: prefixEnd(this.p.prefix),
          start_revision: String(this.rev + 1n),
        },
      });
    });
  }
}
