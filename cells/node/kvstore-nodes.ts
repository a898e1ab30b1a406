// Node registration and discovery through the kvstore, as Cilium's node store does it: this
// agent writes its node under `cilium/state/nodes/v1/<cluster>/<name>` as a key of its session
// (it goes when the agent's lease expires) and rewrites it when the local node changes; it
// watches the cluster's nodes under the prefix and lists the others as source 'kvstore'.
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  errorMessage,
  sleep,
  Trigger,
  type Health,
  type Logger,
} from '../../core/hive/index.js';
import type { KVStore, KVWatch } from '../kvstore/index.js';
import type { NodeIds } from './ids.js';
import { nodeKey, NodeValueError, NODES_PREFIX, parseNodeValue } from './node-value.js';
import { KVSTORE_SOURCE, setNodesWithIds, type NodeList } from './registry.js';
import type { StaticNode } from './static-nodes.js';

/** What the kvstore node sync needs. */
export interface KvstoreNodesParams {
  readonly kv: KVStore;
  readonly list: NodeList;
  readonly ids: NodeIds;
  readonly cluster: string;
  readonly name: string;
  /** The local node's value (JSON), as it is now. */
  readonly localValue: () => string;
  readonly health: Health;
  readonly logger: Logger;
}

/** Whether the signal fired (read through a call: it changes across awaits). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** The pause before this node's value goes back over another writer's (no hot loop). */
const REASSERT_MS = 1000;

/** How many skipped keys health names (the rest are counted). */
const NAMED = 5;

/** `; x, y also in the nodes file: the kvstore's entries are used`, or ''. */
export function shadowedNote(list: NodeList): string {
  const names = list.shadowed();
  if (names.length === 0) return '';
  return `; ${names.join(', ')} in both the nodes file and the kvstore: the kvstore's entries are used`;
}

/** Registers the local node and follows the others while started. */
export class KvstoreNodes {
  /** The valid nodes read, by key. */
  private readonly nodes = new Map<string, StaticNode>();
  /** Keys whose value was refused, with the reason. */
  private readonly skipped = new Map<string, string>();
  /** Keys seen since the last (re-)listing ended. */
  private touched = new Set<string>();
  private idErrors: string[] = [];
  private readonly trigger = new Trigger();
  private abort?: AbortController;
  private loop?: Promise<void>;
  private watch?: KVWatch;
  private written?: string;
  private writeError?: string;
  private applying = false;
  private later?: NodeJS.Timeout;
  /** The value being written, while the write runs. */
  private writing?: string;
  readonly key: string;

  constructor(private readonly p: KvstoreNodesParams) {
    this.key = nodeKey(p.cluster, p.name);
  }

  /** Starts registering (in the background: calls wait while etcd is away) and watching. */
  start(): void {
    this.abort = new AbortController();
    this.loop = this.register(this.abort.signal);
    // The nodes of this cluster (other clusters' are clustermesh's business, as in Cilium).
    this.watch = this.p.kv.watch(`${NODES_PREFIX}${this.p.cluster}/`, {
      onEvent: (e) => {
        if (e.kind === 'upsert') this.upsert(e.key, e.value ?? '');
        else this.remove(e.key);
      },
      onSynced: () => this.synced(),
    });
    this.report();
  }

  /** Stops both; the node's key stays until the session's lease ends. */
  async stop(): Promise<void> {
    this.watch?.stop();
    this.abort?.abort();
    clearTimeout(this.later);
    await this.loop;
    this.p.health.stopped('stopped');
  }

  /** Asks for the local node to be written again if its value changed. */
  localChanged(): void {
    this.trigger.poke();
  }

  private async register(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const want = this.p.localValue();
      if (want !== this.written) {
        try {
          this.writing = want;
          await this.p.kv.put(this.key, want, { lease: true, signal });
          this.written = want;
          this.writeError = undefined;
          attempt = 0;
          this.p.logger.info({ key: this.key }, 'node registered in the kvstore');
          this.report();
        } catch (e) {
          if (aborted(signal)) return;
          this.writeError = errorMessage(e);
          this.p.logger.warn({ key: this.key, err: this.writeError }, 'node registration failed');
          this.report();
          await sleep(backoffDelay(DEFAULT_BACKOFF, attempt++), signal);
          continue;
        } finally {
          this.writing = undefined;
        }
      }
      await this.trigger.wait(60_000, signal);
    }
  }

  private upsert(key: string, value: string): void {
    this.touched.add(key);
    if (key === this.key) {
      // Our own registration (or the store's rewrite of it after a lease renewal); another
      // value there is another agent claiming this node's name.
      if (value === this.written || value === this.writing) {
        if (this.skipped.delete(key)) this.report();
      } else {
        // Ours goes back after a pause (not at once: two agents given one name must not fight
        // in a hot loop).
        this.skip(key, "another writer claims this node's name");
        this.written = undefined;
        if (!this.later) {
          this.later = setTimeout(() => {
            this.later = undefined;
            this.trigger.poke();
          }, REASSERT_MS);
          this.later.unref();
        }
      }
      return;
    }
    let node: StaticNode;
    try {
      node = parseNodeValue(key, value);
      const local = new Set(this.p.ids.localIps);
      const claimed = [node.ipv4, node.ipv6].filter((ip) => ip !== undefined && local.has(ip));
      if (claimed.length > 0) {
        throw new NodeValueError(`claims this node's IP ${claimed.join(', ')}`);
      }
    } catch (e) {
      if (!(e instanceof NodeValueError)) throw e;
      this.skip(key, e.message);
      return;
    }
    this.skipped.delete(key);
    this.nodes.set(key, node);
    this.apply();
  }

  private skip(key: string, reason: string): void {
    this.p.logger.warn({ key, reason }, 'kvstore node entry skipped');
    this.skipped.set(key, reason);
    // A node whose new value is refused is no longer known by its old one.
    if (this.nodes.delete(key)) this.apply();
    else this.report();
  }

  private remove(key: string): void {
    this.touched.delete(key);
    this.skipped.delete(key);
    if (this.nodes.delete(key)) this.apply();
    else this.report();
    // Our own key gone (deleted by hand, or the lease lost): write it again.
    if (key === this.key) {
      this.written = undefined;
      this.trigger.poke();
    }
  }

  /** A (re-)listing ended: what it did not bring is gone. */
  private synced(): void {
    let changed = false;
    for (const key of [...this.nodes.keys()]) {
      if (!this.touched.has(key)) changed = this.nodes.delete(key) || changed;
    }
    for (const key of [...this.skipped.keys()]) {
      if (!this.touched.has(key)) this.skipped.delete(key);
    }
    if (!this.touched.has(this.key) && this.written !== undefined) {
      this.written = undefined;
      this.trigger.poke();
    }
    this.touched = new Set();
    if (changed) this.apply();
    else this.report();
  }

  /** Applies the nodes read to the list once the current burst of events is in. */
  private apply(): void {
    if (this.applying) return;
    this.applying = true;
    queueMicrotask(() => {
      this.applying = false;
      this.applyNow();
    });
  }

  private applyNow(): void {
    if (this.abort?.signal.aborted !== false) return; // stopped (the ids are closed)
    this.idErrors = setNodesWithIds(this.p.list, this.p.ids, KVSTORE_SOURCE, [
      ...this.nodes.values(),
    ]);
    this.report();
  }

  private report(): void {
    const problems: string[] = [];
    if (this.writeError !== undefined) problems.push(`registering ${this.key}: ${this.writeError}`);
    if (this.skipped.size > 0) {
      const named = [...this.skipped].slice(0, NAMED).map(([k, r]) => `${k}: ${r}`);
      const more = this.skipped.size > NAMED ? ` and ${this.skipped.size - NAMED} more` : '';
      problems.push(`skipped ${this.skipped.size} invalid entries: ${named.join('; ')}${more}`);
    }
    if (this.idErrors.length > 0) problems.push(`no node id for ${this.idErrors.join('; ')}`);
    const state =
      this.written === undefined ? `registering as ${this.key}` : `registered as ${this.key}`;
    const synced = this.watch?.synced === true ? '' : ' (listing)';
    const msg = `${state}; ${this.nodes.size} other nodes from the kvstore${synced}${shadowedNote(this.p.list)}`;
    if (problems.length > 0) this.p.health.degraded(`${msg}; ${problems.join('; ')}`);
    else this.p.health.ok(msg);
  }
}
