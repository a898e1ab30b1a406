// The ipcache across the cluster, as Cilium's kvstore ipcache does it. Publishing: every local
// endpoint IP of the ipcache table (source 'local', not the host's own addresses) is kept under
// `cilium/state/ip/v1/default/<ip>` as a key of this agent's session, from a desired set that
// follows the table: writes that fail (etcd away) stay due and are retried with backoff, so
// nothing created meanwhile is lost. Watching: every other node's entry goes into the ipcache as
// source 'kvstore' with its host IP (the tunnel endpoint), never over a local entry, and leaves
// it on a delete (a dead node's lease takes its keys with it) or when a re-listing lacks it.
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  errorMessage,
  sleep,
  Trigger,
  type Health,
  type Logger,
} from '../../core/hive/index.js';
import type { DB, Table } from '../../core/statedb/index.js';
import type { Subscription } from 'rxjs';
import type { KVStore, KVWatch } from '../kvstore/index.js';
import {
  encodeIp,
  IP_PREFIX,
  ipKey,
  IpValueError,
  parseIpValue,
  type RemoteIp,
} from './ip-value.js';
import type { IpcacheEntry } from './table.js';
import type { IpcacheUpsert, IpcacheWriter } from './writer.js';

/** What the kvstore sync needs. */
export interface KvstoreSyncParams {
  readonly kv: KVStore;
  readonly db: DB;
  readonly table: Table<IpcacheEntry>;
  readonly writer: IpcacheWriter;
  /** This node's IPs: the first IPv4 one (else IPv6) is the HostIP published. */
  readonly localIps: () => readonly string[];
  /** Identities never published (the host's own addresses: identity 1). */
  readonly unpublished: ReadonlySet<number>;
  readonly health: Health;
  readonly logger: Logger;
  /** Called once the first listing of the cluster's entries is in the table. */
  readonly onInitialSync?: () => void;
}

/** The pause before this agent's value goes back over another writer's (no hot loop). */
const REASSERT_MS = 1000;
/** How many writes run at once. */
const PARALLEL = 64;
/** Whether the signal fired (read through a call: it changes across awaits). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** How many skipped keys health names (the rest are counted). */
const NAMED = 5;

/** Whether a prefix is one address (/32, /128): what endpoints publish. */
function isHost(prefix: string): boolean {
  return prefix.endsWith(prefix.includes(':') ? '/128' : '/32');
}

/** Publishes local IPs and follows everyone else's while started. */
export class KvstoreIpSync {
  /** Local IPs wanted in the kvstore: key → value. */
  private readonly desired = new Map<string, string>();
  /** What this agent wrote and still holds: key → value. */
  private readonly published = new Map<string, string>();
  /**
   * The last value this agent put per key, until it deleted it: the session re-writes that value
   * after a lease renewal, even when another writer (or the lease's end) took the key meanwhile,
   * so a key no longer desired is deleted with it (only if it still holds it) to end that.
   */
  private readonly written = new Map<string, string>();
  /** Keys whose desired and published values may differ. */
  private readonly due = new Set<string>();
  /** Other nodes' entries read: key → entry. */
  private readonly remote = new Map<string, RemoteIp>();
  /** Remote entries a local (or other non-kvstore) entry keeps out of the table. */
  private readonly shadowed = new Set<string>();
  /** Keys whose value was refused, with the reason. */
  private readonly skipped = new Map<string, string>();
  /** Remote entries to put in the table with the next flush. */
  private readonly placing = new Set<string>();
  private touched = new Set<string>();
  private failures = new Map<string, string>();
  private readonly trigger = new Trigger();
  private abort?: AbortController;
  private loop?: Promise<void>;
  private watch?: KVWatch;
  private sub?: Subscription;
  private hostIp = '';
  private initialSynced = false;
  private later?: NodeJS.Timeout;

  constructor(private readonly p: KvstoreSyncParams) {}

  /** Starts following the table into the kvstore and the kvstore into the table. */
  start(): void {
    const ips = this.p.localIps();
    this.hostIp = ips.find((ip) => !ip.includes(':')) ?? ips[0] ?? '';
    this.abort = new AbortController();
    this.sub = this.p.table.observe().subscribe((changes) => {
      for (const c of changes) this.tableChanged(c.object, c.deleted);
      this.trigger.poke();
    });
    this.loop = this.publish(this.abort.signal);
    this.watch = this.p.kv.watch(IP_PREFIX, {
      onEvent: (e) => {
        if (e.kind === 'upsert') this.upsert(e.key, e.value ?? '');
        else this.remove(e.key);
      },
      onSynced: () => this.synced(),
    });
    this.report();
  }

  /** Stops; the published keys stay until the session's lease ends. */
  async stop(): Promise<void> {
    this.watch?.stop();
    this.sub?.unsubscribe();
    this.abort?.abort();
    clearTimeout(this.later);
    await this.loop;
    this.p.health.stopped('stopped');
  }

  /** How many local IPs are published, and how many other nodes' entries are known. */
  counts(): { published: number; desired: number; remote: number } {
    return { published: this.published.size, desired: this.desired.size, remote: this.remote.size };
  }

  private tableChanged(e: IpcacheEntry, deleted: boolean): void {
    if (e.source === 'kvstore') return;
    const key = ipKey(e.prefix.split('/')[0] ?? '');
    if (!deleted && this.remote.has(key)) this.shadowed.add(key);
    if (
      !deleted &&
      this.hostIp !== '' &&
      e.source === 'local' &&
      isHost(e.prefix) &&
      !this.p.unpublished.has(e.identity)
    ) {
      const value = encodeIp({
        ip: e.prefix.split('/')[0] ?? '',
        hostIP: this.hostIp,
        identity: e.identity,
        encryptKey: e.encryptKey,
        ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
        ...(e.name !== undefined ? { name: e.name } : {}),
      });
      if (this.desired.get(key) !== value) {
        this.desired.set(key, value);
        this.due.add(key);
      }
    } else if (this.desired.delete(key)) {
      this.due.add(key);
    }
    // A local entry gone: another node's entry for the same IP may now take its place.
    if (deleted && this.remote.has(key)) this.place(key);
  }

  private async publish(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      await this.trigger.wait(60_000, signal);
      if (aborted(signal)) return;
      const keys = [...this.due];
      this.due.clear();
      const failed = new Map<string, string>();
      for (let i = 0; i < keys.length; i += PARALLEL) {
        await Promise.all(
          keys.slice(i, i + PARALLEL).map(async (key) => {
            try {
              await this.sync(key, signal);
            } catch (e) {
              failed.set(key, errorMessage(e));
            }
          }),
        );
        if (aborted(signal)) return;
      }
      this.failures = failed;
      if (failed.size > 0) {
        for (const key of failed.keys()) this.due.add(key);
        this.p.logger.warn(
          { keys: failed.size, err: failed.values().next().value },
          'ipcache entries not published; retrying',
        );
        this.report();
        await sleep(backoffDelay(DEFAULT_BACKOFF, attempt++), signal);
        this.trigger.poke();
      } else {
        attempt = 0;
        if (keys.length > 0) this.report();
      }
    }
  }

  /** Makes one key what is desired (one key is never written twice at once). */
  private async sync(key: string, signal: AbortSignal): Promise<void> {
    const want = this.desired.get(key);
    const have = this.published.get(key);
    if (want === have && (want !== undefined || !this.written.has(key))) return;
    const mine = have ?? this.written.get(key);
    if (want !== undefined) {
      await this.p.kv.put(key, want, { lease: true, signal });
      this.published.set(key, want);
      this.written.set(key, want);
    } else if (mine !== undefined) {
      // Only our own value: the IP may be another node's by now.
      await this.p.kv.deleteIfValue(key, mine, signal);
      this.published.delete(key);
      if (this.written.get(key) === mine) this.written.delete(key);
    }
    // What was desired may have changed while the write ran: look again.
    if (this.desired.get(key) !== this.published.get(key)) this.due.add(key);
  }

  private upsert(key: string, value: string): void {
    this.touched.add(key);
    let e: RemoteIp;
    try {
      e = parseIpValue(key, value);
    } catch (err) {
      if (!(err instanceof IpValueError)) throw err;
      this.p.logger.warn({ key, reason: err.message }, 'kvstore ipcache entry skipped');
      this.skipped.set(key, err.message);
      this.drop(key);
      this.report();
      return;
    }
    this.skipped.delete(key);
    const want = this.desired.get(key);
    if (want !== undefined && value !== want) {
      // Another writer took the key of one of our endpoints' IPs: ours goes back after a pause
      // (not at once: two agents claiming one IP must not fight in a hot loop).
      this.p.logger.warn({ key, hostIP: e.hostIP }, "another writer claims a local endpoint's IP");
      this.published.delete(key);
      this.due.add(key);
      this.pokeLater();
    }
    if (this.p.localIps().includes(e.hostIP)) {
      // Ours: a write of this agent (or of its previous run, until that lease ends).
      this.drop(key);
      return;
    }
    this.remote.set(key, e);
    this.place(key);
  }

  /** Wakes the publisher after REASSERT_MS (once, however often asked meanwhile). */
  private pokeLater(): void {
    if (this.later) return;
    this.later = setTimeout(() => {
      this.later = undefined;
      this.trigger.poke();
    }, REASSERT_MS);
    this.later.unref();
  }

  private remove(key: string): void {
    this.touched.delete(key);
    this.skipped.delete(key);
    this.drop(key);
    // Our own key gone (by hand, or a lost lease): write it again if still wanted.
    if (this.published.delete(key) && this.desired.has(key)) {
      this.due.add(key);
      this.trigger.poke();
    }
    this.report();
  }

  /**
   * Puts a remote entry in the table unless a local one holds the prefix (local wins); the
   * entries of one burst of events (a listing) go in one transaction.
   */
  private place(key: string): void {
    this.placing.add(key);
    if (this.placing.size > 1) return;
    queueMicrotask(() => {
      if (this.abort?.signal.aborted !== false) return;
      const txn = this.p.db.readTxn();
      const rows: IpcacheUpsert[] = [];
      for (const k of this.placing) {
        const e = this.remote.get(k);
        if (!e) continue;
        const have = this.p.table.get(txn, e.prefix);
        if (have && have.source !== 'kvstore' && have.source !== 'generated') {
          this.shadowed.add(k);
          continue;
        }
        this.shadowed.delete(k);
        rows.push({ ...e, source: 'kvstore' });
      }
      this.placing.clear();
      this.p.writer.upsertAll(rows);
      this.report();
    });
  }

  /** Forgets a remote entry and removes it from the table if it is there as kvstore's. */
  private drop(key: string): void {
    const e = this.remote.get(key);
    if (!e) return;
    this.remote.delete(key);
    this.shadowed.delete(key);
    this.placing.delete(key);
    if (this.p.table.get(this.p.db.readTxn(), e.prefix)?.source === 'kvstore') {
      this.p.writer.delete(e.prefix);
    }
  }

  /** A (re-)listing ended: entries it did not bring are gone. */
  private synced(): void {
    for (const key of [...this.remote.keys()]) if (!this.touched.has(key)) this.drop(key);
    for (const key of [...this.skipped.keys()])
      if (!this.touched.has(key)) this.skipped.delete(key);
    // Ours missing from the listing (lost with a lease): write them again.
    for (const key of [...this.published.keys()]) {
      if (!this.touched.has(key)) {
        this.published.delete(key);
        if (this.desired.has(key)) this.due.add(key);
      }
    }
    this.touched = new Set();
    this.trigger.poke();
    if (!this.initialSynced) {
      this.initialSynced = true;
      this.p.onInitialSync?.();
    }
    this.report();
  }

  private report(): void {
    const problems: string[] = [];
    if (this.failures.size > 0) {
      const err = this.failures.values().next().value ?? '';
      problems.push(`${this.failures.size} local IPs not yet published (${err}); retrying`);
    }
    if (this.skipped.size > 0) {
      const named = [...this.skipped].slice(0, NAMED).map(([k, r]) => `${k}: ${r}`);
      const more = this.skipped.size > NAMED ? ` and ${this.skipped.size - NAMED} more` : '';
      problems.push(`skipped ${this.skipped.size} invalid entries: ${named.join('; ')}${more}`);
    }
    const listing = this.watch?.synced === true ? '' : ' (listing)';
    const shadowed = this.shadowed.size > 0 ? `, ${this.shadowed.size} kept out by local ones` : '';
    if (this.hostIp === '') problems.push('this node has no IP: local IPs are not published');
    const msg =
      `${this.published.size}/${this.desired.size} local IPs published; ` +
      `${this.remote.size} entries of other nodes${listing}${shadowed}`;
    if (problems.length > 0) this.p.health.degraded(`${msg}; ${problems.join('; ')}`);
    else this.p.health.ok(msg);
  }
}
