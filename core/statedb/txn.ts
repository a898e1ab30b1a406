import { Subject, type Observable } from 'rxjs';
import type { BTree } from './btree.js';
import {
  indexKeys,
  nonUniqueKey,
  Table,
  type Change,
  type Entry,
  type Lockable,
  type TableDef,
  type TableState,
} from './table.js';

/** A consistent snapshot of every table, as of when it was taken. */
export class ReadTxn {
  constructor(protected readonly snapshot: Map<Table<unknown>, TableState<unknown>>) {}

  /** @internal the state of a table in this snapshot. */
  state<T>(table: Table<T>): TableState<T> {
    return (this.snapshot.get(table as Table<unknown>) ?? table.state) as TableState<T>;
  }
}

interface Draft<T> {
  rev: number;
  primary: BTree<string, Entry<T>>;
  secondary: Map<string, BTree<string, Entry<T>>>;
  byRev: BTree<number, string>;
  graveyard: BTree<number, Change<T>>;
  graveByKey: BTree<string, number>;
  pendingInit: Set<string>;
}

/** Thrown by `compareAndSwap` when the object changed since it was read. */
export class RevisionMismatchError extends Error {
  override name = 'RevisionMismatchError';
}

/**
 * A write transaction over a set of locked tables. Writes are visible to reads through it;
 * `commit()` publishes all of them at once, `abort()` none. Write transactions are
 * synchronous: do not `await` while holding one.
 */
export class WriteTxn extends ReadTxn {
  private readonly drafts = new Map<Table<unknown>, Draft<unknown>>();
  private done = false;

  constructor(
    private readonly db: DB,
    private readonly tables: readonly Lockable[],
  ) {
    super(db.snapshot());
  }

  /** Inserts or replaces an object (frozen on the way in); returns the old one. */
  insert<T>(table: Table<T>, obj: T): T | undefined {
    const d = this.draft(table);
    const key = table.def.primaryKey(obj);
    const old = d.primary.get(key);
    for (const idx of table.def.indexes ?? []) {
      if (!idx.unique) continue;
      for (const k of indexKeys(idx, obj)) {
        const other = d.secondary.get(idx.name)?.get(k);
        if (other && table.def.primaryKey(other.obj) !== key) {
          throw new Error(
            `table ${table.name}: unique index '${idx.name}' already has key '${k}' (object '${table.def.primaryKey(other.obj)}')`,
          );
        }
      }
    }
    if (old) this.unindex(table, d, key, old);
    const rev = ++d.rev;
    const entry: Entry<T> = { obj: Object.freeze(obj), rev };
    d.primary.set(key, entry);
    for (const idx of table.def.indexes ?? []) {
      const tree = d.secondary.get(idx.name);
      for (const k of indexKeys(idx, obj)) tree?.set(idx.unique ? k : nonUniqueKey(k, key), entry);
    }
    d.byRev.set(rev, key);
    const graveRev = d.graveByKey.get(key);
    if (graveRev !== undefined) {
      d.graveyard.delete(graveRev);
      d.graveByKey.delete(key);
    }
    return old?.obj;
  }

  /** Inserts `obj` only if the stored object still has revision `rev` (0: must be absent). */
  compareAndSwap<T>(table: Table<T>, obj: T, rev: number): T | undefined {
    const cur = this.draft(table).primary.get(table.def.primaryKey(obj));
    if ((cur?.rev ?? 0) !== rev) {
      throw new RevisionMismatchError(
        `table ${table.name}: '${table.def.primaryKey(obj)}' is at revision ${cur?.rev ?? 0}, not ${rev}`,
      );
    }
    return this.insert(table, obj);
  }

  /** Deletes the object with the same primary key; deleting what is absent is fine. */
  delete<T>(table: Table<T>, obj: T): T | undefined {
    return this.deleteKey(table, table.def.primaryKey(obj));
  }

  /** Deletes by primary key; returns the deleted object. */
  deleteKey<T>(table: Table<T>, key: string): T | undefined {
    const d = this.draft(table);
    const old = d.primary.get(key);
    if (!old) return undefined;
    this.unindex(table, d, key, old);
    d.primary.delete(key);
    const rev = ++d.rev;
    if (table.graveyardLowWater() !== Number.POSITIVE_INFINITY) {
      d.graveyard.set(rev, { object: old.obj, revision: rev, deleted: true });
      d.graveByKey.set(key, rev);
    }
    return old.obj;
  }

  /** Deletes every object of a table. */
  deleteAll<T>(table: Table<T>): void {
    for (const [k] of [...this.draft(table).primary.entries()]) this.deleteKey(table, k);
  }

  /** Registers a pending initializer; the table is not `initialized` until it is done. */
  registerInitializer<T>(table: Table<T>, name: string): (txn: WriteTxn) => void {
    this.draft(table).pendingInit.add(name);
    return (txn) => {
      txn.draft(table).pendingInit.delete(name);
    };
  }

  /** Publishes every write atomically and returns a snapshot of the result. */
  commit(): ReadTxn {
    this.finish();
    const changed = new Set<string>();
    for (const [table, d] of this.drafts) {
      const low = table.graveyardLowWater();
      const seen: [number, string][] = [];
      for (const [rev, c] of d.graveyard.entries()) {
        if (rev > low) break;
        seen.push([rev, table.def.primaryKey(c.object)]);
      }
      for (const [rev, key] of seen) {
        d.graveyard.delete(rev);
        d.graveByKey.delete(key);
      }
      if (d.rev !== table.state.rev || d.pendingInit.size !== table.state.pendingInit.size) {
        changed.add(table.name);
      }
      table.state = d;
    }
    const snap = this.db.readTxn();
    if (changed.size > 0) this.db.notify(changed);
    return snap;
  }

  /** Drops every write. */
  abort(): void {
    if (!this.done) this.finish();
  }

  override state<T>(table: Table<T>): TableState<T> {
    return (
      (this.drafts.get(table as Table<unknown>) as TableState<T> | undefined) ?? super.state(table)
    );
  }

  private finish(): void {
    if (this.done) throw new Error('write transaction already committed or aborted');
    this.done = true;
    for (const t of this.tables) t.lockedBy = undefined;
  }

  private draft<T>(table: Table<T>): Draft<T> {
    if (this.done) throw new Error('write transaction already committed or aborted');
    if (!this.tables.includes(table)) {
      throw new Error(`table ${table.name} is not locked by this write transaction`);
    }
    let d = this.drafts.get(table as Table<unknown>) as Draft<T> | undefined;
    if (!d) {
      const s = table.state;
      d = {
        rev: s.rev,
        primary: s.primary.clone(),
        secondary: new Map([...s.secondary].map(([n, t]) => [n, t.clone()])),
        byRev: s.byRev.clone(),
        graveyard: s.graveyard.clone(),
        graveByKey: s.graveByKey.clone(),
        pendingInit: new Set(s.pendingInit),
      };
      this.drafts.set(table as Table<unknown>, d);
    }
    return d;
  }

  private unindex<T>(table: Table<T>, d: Draft<T>, key: string, old: Entry<T>): void {
    for (const idx of table.def.indexes ?? []) {
      const tree = d.secondary.get(idx.name);
      for (const k of indexKeys(idx, old.obj)) tree?.delete(idx.unique ? k : nonUniqueKey(k, key));
    }
    d.byRev.delete(old.rev);
  }
}

/** The in-memory database: tables, snapshots and write transactions. */
export class DB {
  private readonly tables = new Map<string, Table<unknown>>();
  private readonly commits = new Subject<ReadonlySet<string>>();

  /** Emits the names of the tables each commit changed. */
  get commits$(): Observable<ReadonlySet<string>> {
    return this.commits.asObservable();
  }

  /** Creates a table; names are unique within the DB. */
  newTable<T>(def: TableDef<T>): Table<T> {
    if (this.tables.has(def.name)) throw new Error(`table ${def.name} already exists`);
    const t = new Table<T>(this, def);
    this.tables.set(def.name, t as Table<unknown>);
    return t;
  }

  /** Every table, by name. */
  list(): Table<unknown>[] {
    return [...this.tables.values()];
  }

  /** A consistent snapshot of every table. */
  readTxn(): ReadTxn {
    return new ReadTxn(this.snapshot());
  }

  /** Locks `tables` for writing; fails at once if another write transaction holds one. */
  writeTxn(...tables: Lockable[]): WriteTxn {
    const busy = tables.find((t) => t.lockedBy !== undefined);
    if (busy) throw new Error(`table ${busy.name} is locked by another write transaction`);
    const txn = new WriteTxn(this, tables);
    for (const t of tables) t.lockedBy = txn;
    return txn;
  }

  /** Runs `fn` in a write transaction: commits if it returns, aborts (and rethrows) if it throws. */
  update<R>(tables: readonly Lockable[], fn: (txn: WriteTxn) => R): R {
    const txn = this.writeTxn(...tables);
    try {
      const r = fn(txn);
      txn.commit();
      return r;
    } catch (e) {
      txn.abort();
      throw e;
    }
  }

  /** @internal */
  snapshot(): Map<Table<unknown>, TableState<unknown>> {
    return new Map([...this.tables.values()].map((t) => [t, t.state]));
  }

  /** @internal */
  notify(changed: ReadonlySet<string>): void {
    this.commits.next(changed);
  }
}
