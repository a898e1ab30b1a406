// One etcd client (the etcd3 package) and the rule every call follows: while etcd is
// unreachable a call waits and retries, up to --kvstore-connectivity-timeout or its signal, then
// fails with an error naming the kvstore and its endpoints.
import type { CallOptions } from '@grpc/grpc-js';
import { noop } from 'cockatiel';
import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
  type IOptions,
} from 'etcd3';
import { errorMessage } from '../../core/hive/index.js';
import { formatDuration, sleep } from '../../core/hive/index.js';
import type { EtcdTarget } from './config.js';
import { KVStoreUnreachableError } from './kvstore.js';

export { KVStoreUnreachableError };

/** Whether an error means "etcd is not reachable now" (worth waiting for) rather than a refusal. */
export function isConnectivityError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e instanceof GRPCUnavailableError || e instanceof GRPCDeadlineExceededError) return true;
  if (isRecoverableError(e)) return true;
  // Stream errors arrive as raw grpc-js errors: 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 1 CANCELLED.
  const code = (e as { code?: unknown }).code;
  return code === 14 || code === 4;
}

/** Builds the etcd3 client for a target: no etcd3 retries or circuit breakers (we wait ourselves). */
export function newEtcd3(t: EtcdTarget): Etcd3 {
  const opts: IOptions = {
    hosts: [...t.endpoints],
    faultHandling: { host: () => noop, global: noop },
    // Notice a silently dead peer on long-lived watch streams (etcd allows pings every 5 s).
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
    },
    dialTimeout: 5_000,
  };
  if (t.tls) {
    opts.credentials = {
      rootCertificate: t.tls.ca ?? Buffer.alloc(0),
      ...(t.tls.key ? { privateKey: t.tls.key } : {}),
      ...(t.tls.cert ? { certChain: t.tls.cert } : {}),
    };
  }
  if (t.auth) opts.auth = { ...t.auth };
  return new Etcd3(opts);
}

/** Whether etcd answered the last call, and why not. */
export type Connectivity = { readonly up: true } | { readonly up: false; readonly error: string };

/** What an EtcdConn needs. */
export interface EtcdConnParams {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly connectivityTimeoutMs: number;
  /** Called when the connectivity changes (first success, first failure). */
  readonly onConnectivity?: (c: Connectivity) => void;
}

/** Rejects when `signal` aborts; otherwise settles as `p` does. */
export function abortable<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new Error(`${what}: aborted`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`${what}: aborted`));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The client and the waiting rule every call goes through. */
export class EtcdConn {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  private state: Connectivity = { up: false, error: 'not connected yet' };
  private closed = false;

  constructor(private readonly p: EtcdConnParams) {
    this.client = p.client;
    this.endpoints = p.endpoints;
  }

  /** The latest connectivity. */
  get connectivity(): Connectivity {
    return this.state;
  }

  /** "etcd (http://a:2379, http://b:2379)": how errors name the kvstore. */
  get label(): string {
    return `kvstore etcd (${this.endpoints.join(', ')})`;
  }

  /** Records that etcd answered (or did not). */
  mark(c: Connectivity): void {
    const changed =
      c.up !== this.state.up || (!c.up && !this.state.up && c.error !== this.state.error);
    this.state = c;
    if (changed) this.p.onConnectivity?.(c);
  }

  /**
   * Runs `fn` (one etcd RPC, given call options with a deadline) until it succeeds, fails for a
   * reason other than connectivity, the connectivity timeout passes or `signal` aborts.
   */
  async call<T>(
    what: string,
    fn: (opts: CallOptions) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const start = Date.now();
    const end = start + this.p.connectivityTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error(`${this.label}: closed`);
      // Not even started once the signal is gone (the wait below ends early when it aborts):
      // a call made then would run on unobserved, its failure an unhandled rejection.
      if (signal?.aborted) throw new Error(`${this.label}: ${what}: aborted`);
      try {
        const v = await abortable(
          fn({ deadline: new Date(end) }),
          signal,
          `${this.label}: ${what}`,
        );
        this.mark({ up: true });
        return v;
      } catch (e) {
        if (signal?.aborted) throw e;
        if (!isConnectivityError(e)) {
          this.mark({ up: true });
          throw e;
        }
        this.mark({ up: false, error: errorMessage(e) });
        const left = end - Date.now();
        if (left <= 0) {
          throw new KVStoreUnreachableError(
            `${this.label}: ${what}: etcd unreachable for ${formatDuration(Date.now() - start)} (--kvstore-connectivity-timeout ${formatDuration(this.p.connectivityTimeoutMs)}): ${errorMessage(e)}`,
          );
        }
        await sleep(Math.min(left, 100 * 2 ** Math.min(attempt, 4)), signal);
      }
    }
  }

  /** One try of `fn` with a deadline `timeoutMs` away (probes, keepalives, revoke at stop). */
  async attempt<T>(
    what: string,
    timeoutMs: number,
    fn: (opts: CallOptions) => Promise<T>,
  ): Promise<T> {
    try {
      const v = await fn({ deadline: new Date(Date.now() + timeoutMs) });
      this.mark({ up: true });
      return v;
    } catch (e) {
      if (isConnectivityError(e)) {
        this.mark({ up: false, error: errorMessage(e) });
        throw new KVStoreUnreachableError(`${this.label}: ${what}: ${errorMessage(e)}`, {
          cause: e,
        });
      }
      this.mark({ up: true });
      throw e;
    }
  }

  /** Closes the client; calls in flight fail. */
  close(): void {
    this.closed = true;
    this.client.close();
  }
}
