import { Subject, type Observable } from 'rxjs';
import { token } from '../../core/hive/index.js';
import {
  labelsKey,
  labelsSha256,
  MAX_IDENTITY,
  MIN_IDENTITY,
  normalizeLabels,
  RESERVED,
} from './labels.js';

/** A security identity: a number standing for a label set. */
export interface Identity {
  readonly id: number;
  readonly labels: readonly string[];
  readonly labelsSHA256: string;
  /** Reserved identities are fixed and never released. */
  readonly reserved: boolean;
}

/** An identity appearing or going away. */
export interface IdentityChange {
  readonly kind: 'upsert' | 'delete';
  readonly identity: Identity;
}

/**
 * Turns label sets into identities: the same labels always get the same id while in use,
 * references are counted, and an identity is freed when its last user releases it. The
 * embedded mode allocates locally; the kvstore mode shares them through etcd.
 */
export interface IdentityAllocator {
  /**
   * The identity of a label set, taking a reference (allocating it if new). Asynchronous: the
   * kvstore allocator may have to ask the cluster; `signal` gives up waiting (the reference is
   * then not taken). Rejects with an IdentityError.
   */
  allocate(labels: readonly string[], signal?: AbortSignal): Promise<Identity>;
  /**
   * Takes a reference on a label set with a known id (restore), synchronously: the same id as
   * before, never waiting on the cluster.
   */
  restore(labels: readonly string[], id: number): Identity;
  /** Drops a reference; returns true when the identity was freed. */
  release(identity: Identity): boolean;
  get(id: number): Identity | undefined;
  /** Every identity, reserved ones first, by id. */
  list(): Identity[];
  /** Local references per identity (GET /identity/endpoints). */
  refCount(id: number): number;
  /** The ids this allocator hands out to label sets (reserved ids lie below). */
  readonly range: { readonly min: number; readonly max: number };
  readonly changes$: Observable<IdentityChange>;
}

/** The identity allocator. */
export const IdentityAllocator = token<IdentityAllocator>('identity/IdentityAllocator');

/** Why an identity could not be allocated. */
export class IdentityError extends Error {
  override name = 'IdentityError';
}

/** Labels this allocator cannot give an identity (bad input, not the agent's failure). */
export class IdentityLabelsError extends IdentityError {
  override name = 'IdentityLabelsError';
}

/** The identity store (the kvstore) could not be reached in time: retry later, not bad input. */
export class IdentityUnavailableError extends IdentityError {
  override name = 'IdentityUnavailableError';
}

/** An identity of a normalized label set. */
export function identity(id: number, labels: readonly string[], reserved = false): Identity {
  return { id, labels, labelsSHA256: labelsSha256(labels), reserved };
}

/** The reserved identities (Cilium's numbers, `reserved:<name>`), by their labels' key. */
export function reservedIdentities(): Map<string, Identity> {
  const out = new Map<string, Identity>();
  for (const [name, id] of Object.entries(RESERVED)) {
    if (id === 0) continue;
    const ident = identity(id, [`reserved:${name}`], true);
    out.set(labelsKey(ident.labels), ident);
  }
  return out;
}

/** The local (embedded-mode) allocator: ids from 256 up, lowest free first. */
export class LocalIdentityAllocator implements IdentityAllocator {
  private readonly byKey = new Map<string, Identity>();
  private readonly byId = new Map<number, Identity>();
  private readonly refs = new Map<number, number>();
  private readonly changes = new Subject<IdentityChange>();
  private next = MIN_IDENTITY;
  readonly range = { min: MIN_IDENTITY, max: MAX_IDENTITY } as const;

  constructor() {
    for (const [key, ident] of reservedIdentities()) {
      this.byKey.set(key, ident);
      this.byId.set(ident.id, ident);
    }
  }

  get changes$(): Observable<IdentityChange> {
    return this.changes.asObservable();
  }

  allocate(labels: readonly string[]): Promise<Identity> {
    try {
      return Promise.resolve(this.take(labels));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** allocate(), synchronously (restore falls back to it). */
  private take(labels: readonly string[]): Identity {
    const norm = normalizeLabels(labels);
    if (norm.length === 0) throw new IdentityError('an identity needs at least one label');
    const key = labelsKey(norm);
    let ident = this.byKey.get(key);
    if (!ident) {
      ident = identity(this.freeId(), norm);
      this.add(ident);
    }
    if (!ident.reserved) this.refs.set(ident.id, (this.refs.get(ident.id) ?? 0) + 1);
    return ident;
  }

  restore(labels: readonly string[], id: number): Identity {
    const norm = normalizeLabels(labels);
    const existing = this.byKey.get(labelsKey(norm));
    // Labels already in use keep their id; a taken or out-of-range id gets a new one.
    if (existing) return this.take(norm);
    const usable = Number.isSafeInteger(id) && id >= MIN_IDENTITY && id <= MAX_IDENTITY;
    if (!usable || this.byId.has(id)) return this.take(norm);
    const ident = identity(id, norm);
    this.add(ident);
    this.refs.set(id, 1);
    return ident;
  }

  release(ident: Identity): boolean {
    // Only a live identity of this allocator can be released (never a stale or forged copy).
    if (ident.reserved || this.byId.get(ident.id) !== ident || !this.refs.has(ident.id)) {
      return false;
    }
    const n = (this.refs.get(ident.id) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(ident.id, n);
      return false;
    }
    this.refs.delete(ident.id);
    this.byId.delete(ident.id);
    this.byKey.delete(labelsKey(ident.labels));
    this.next = Math.min(this.next, ident.id);
    this.changes.next({ kind: 'delete', identity: ident });
    return true;
  }

  get(id: number): Identity | undefined {
    return this.byId.get(id);
  }

  list(): Identity[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  refCount(id: number): number {
    return this.refs.get(id) ?? 0;
  }

  private add(ident: Identity): void {
    this.byKey.set(labelsKey(ident.labels), ident);
    this.byId.set(ident.id, ident);
    this.changes.next({ kind: 'upsert', identity: ident });
  }

  private freeId(): number {
    for (let id = this.next; id <= MAX_IDENTITY; id++) {
      if (!this.byId.has(id)) {
        this.next = id + 1;
        return id;
      }
    }
    throw new IdentityError(`identities ${MIN_IDENTITY}-${MAX_IDENTITY} are all in use`);
  }
}
