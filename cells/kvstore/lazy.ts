// The etcd store behind a lazy import: etcd3 (gRPC, protobuf) is loaded only by an agent run
// with --kvstore etcd, when the cell starts, never at every agent's start.
import { BehaviorSubject, type Observable, type Subscription } from 'rxjs';
import type { EtcdStore } from './etcd.js';
import type { KVLock, KVStore, KVStoreStatus, KVWatch, KVWatchHandler } from './kvstore.js';

/** A KVStore whose calls wait for the real store, created by `load` at start(). */
export class LazyKVStore implements KVStore {
  readonly enabled = true;
  private readonly statusSubject = new BehaviorSubject<KVStoreStatus>({
    state: 'Warning',
    msg: 'Waiting for initial connection to be established',
  });
  private loaded: Promise<EtcdStore> | undefined;
  private resolveLoaded!: (s: EtcdStore) => void;
  private rejectLoaded!: (e: unknown) => void;
  private readonly ready: Promise<EtcdStore>;
  private sub: Subscription | undefined;

  constructor(private readonly load: () => Promise<EtcdStore>) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveLoaded = resolve;
      this.rejectLoaded = reject;
    });
    // Nobody may be waiting when the load fails: the failure is the start hook's to report.
    this.ready.catch(() => undefined);
  }

  /** Loads and starts the etcd store (it connects in the background). */
  async start(): Promise<void> {
    this.loaded ??= this.load();
    let store: EtcdStore;
    try {
      store = await this.loaded;
    } catch (e) {
      this.rejectLoaded(e); // calls waiting for the store fail with it, rather than wait forever
      throw e;
    }
    this.sub = store.status$.subscribe((s) => this.statusSubject.next(s));
    store.start();
    this.resolveLoaded(store);
  }

  async stop(): Promise<void> {
    if (!this.loaded) return;
    const store = await this.loaded.catch(() => undefined);
    if (!store) return; // never loaded: nothing to stop (start reported why)
    await store.stop();
    this.sub?.unsubscribe();
  }

  /** The real store once started. */
  store(): Promise<EtcdStore> {
    return this.ready;
  }

  get status$(): Observable<KVStoreStatus> {
    return this.statusSubject.asObservable();
  }

  status(): KVStoreStatus {
    return this.statusSubject.value;
  }

  async get(key: string, signal?: AbortSignal): Promise<string | undefined> {
    return (await this.ready).get(key, signal);
  }

  async list(prefix: string, signal?: AbortSignal): Promise<Map<string, string>> {
    return (await this.ready).list(prefix, signal);
  }

  async put(
    key: string,
    value: string,
    opts?: { lease?: boolean; signal?: AbortSignal },
  ): Promise<void> {
    return (await this.ready).put(key, value, opts);
  }

  async create(
    key: string,
    value: string,
    opts?: { lease?: boolean; signal?: AbortSignal },
  ): Promise<boolean> {
    return (await this.ready).create(key, value, opts);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    return (await this.ready).delete(key, signal);
  }

  async deleteIfValue(key: string, value: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.ready).deleteIfValue(key, value, signal);
  }

  async lock(path: string, signal?: AbortSignal): Promise<KVLock> {
    return (await this.ready).lock(path, signal);
  }

  watch(prefix: string, handler: KVWatchHandler): KVWatch {
    let inner: KVWatch | undefined;
    let stopped = false;
    const started = this.ready.then((s) => {
      if (!stopped) inner = s.watch(prefix, handler);
      return inner;
    });
    return {
      get synced() {
        return inner?.synced ?? false;
      },
      waitSynced: async (signal) => {
        const w = await started;
        if (!w) throw new Error('watch stopped');
        return w.waitSynced(signal);
      },
      stop: () => {
        stopped = true;
        inner?.stop();
      },
    };
  }
}
