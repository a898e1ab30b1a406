// The kvstore as the other cells see it: keys and values shared by every agent of the cluster
// (etcd), a session whose lease binds the keys this agent owns, watches and locks.
import type { Observable } from 'rxjs';
import { token } from '../../core/hive/index.js';

/** One change under a watched prefix. */
export interface KVEvent {
  readonly kind: 'upsert' | 'delete';
  readonly key: string;
  /** The new value (upsert) or the last one seen (delete, when known). */
  readonly value?: string;
}

/** What a watch calls. */
export interface KVWatchHandler {
  /** Each change, in revision order. The initial listing arrives as upserts. */
  onEvent(e: KVEvent): void;
  /**
   * After the initial listing, and again after every re-listing (a reconnect that could not
   * resume from its revision): every key present is then known. Called at least once.
   */
  onSynced?(): void;
}

/** A running watch. */
export interface KVWatch {
  /** Whether the initial listing has been delivered. */
  readonly synced: boolean;
  /** Resolves once synced (rejects when the signal aborts or the watch is stopped first). */
  waitSynced(signal?: AbortSignal): Promise<void>;
  stop(): void;
}

/** A held lock; release it exactly once. */
export interface KVLock {
  unlock(): Promise<void>;
}

/** The kvstore's state, as `cellium status` shows it ("KVStore: Ok  etcd: 1/1 connected ..."). */
export interface KVStoreStatus {
  readonly state: 'Ok' | 'Warning' | 'Failure' | 'Disabled';
  readonly msg: string;
}

/**
 * The cluster's shared store. Keys written with `{ lease: true }` belong to this agent's session:
 * etcd deletes them when the session's lease expires (the agent died), and the store writes
 * them again under a new lease when the session had to be renewed (etcd was away longer than
 * the lease), so they are never lost while the agent lives nor duplicated. Calls made while etcd
 * is unreachable wait for it (up to the signal) rather than fail at once.
 */
export interface KVStore {
  /** False when the agent runs without a kvstore (`--kvstore ''`): every call then throws. */
  readonly enabled: boolean;
  get(key: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Every key under a prefix with its value. */
  list(prefix: string, signal?: AbortSignal): Promise<Map<string, string>>;
  put(key: string, value: string, opts?: { lease?: boolean; signal?: AbortSignal }): Promise<void>;
  /** Writes a key only if it does not exist; false when it did. */
  create(
    key: string,
    value: string,
    opts?: { lease?: boolean; signal?: AbortSignal },
  ): Promise<boolean>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /** Deletes a key only while it still holds `value`; false when it did not. */
  deleteIfValue(key: string, value: string, signal?: AbortSignal): Promise<boolean>;
  /** A cluster-wide lock on a path, held by this agent's session. */
  lock(path: string, signal?: AbortSignal): Promise<KVLock>;
  /** Lists a prefix, then follows it from that revision; resumes after reconnects. */
  watch(prefix: string, handler: KVWatchHandler): KVWatch;
  status(): KVStoreStatus;
  /** Emits on each status change. */
  readonly status$: Observable<KVStoreStatus>;
}

/** The kvstore (always provided; `enabled` says whether one is configured). */
export const KVStore = token<KVStore>('kvstore/KVStore');

/** Thrown by calls on a disabled kvstore. */
export class KVStoreDisabledError extends Error {
  override name = 'KVStoreDisabledError';
}

/** A call that gave up waiting for etcd (after --kvstore-connectivity-timeout or its signal). */
export class KVStoreUnreachableError extends Error {
  override name = 'KVStoreUnreachableError';
}
