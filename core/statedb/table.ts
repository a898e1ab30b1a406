import { Observable, filter } from 'rxjs';
import { flat } from '../flat.js';
import { BTree } from './btree.js';
import type { DB, ReadTxn } from './txn.js';

/** A secondary index: one or more string keys per object; unique or not. */
export interface IndexDef<T> {
  readonly name: string;
  readonly key: (obj: T) => string | readonly string[];
  readonly unique: boolean;
}

/** How a table is declared: a name, a unique primary key and optional secondary indexes. */
export interface TableDef<T> {
  readonly name: string;
  readonly primaryKey: (obj: T) => string;
  readonly indexes?: readonly IndexDef<T>[];
}

/** An object as stored: the object and the revision of the write that put it there. */
export interface Entry<T> {
  readonly obj: T;
  readonly rev: number;
}

/** One change seen by a change iterator: the object as written or as it was when deleted. */
export interface Change<T> {
  readonly object: T;
  readonly revision: number;
  readonly deleted: boolean;
}

/** The immutable state of one table at one point; a snapshot holds one per table. */
export interface TableState<T> {
  readonly rev: number;
  readonly primary: BTree<string, Entry<T>>;
  /** Per index: unique → key; non-unique → key + NUL + primary key. */
  readonly secondary: ReadonlyMap<string, BTree<string, Entry<T>>>;
  /** Live objects by revision: the change log of inserts. */
  readonly byRev: BTree<number, string>;
  /** Deleted objects by revision, kept until every change iterator has seen them. */
  readonly graveyard: BTree<number, Change<T>>;
  readonly graveByKey: BTree<string, number>;
  readonly pendingInit: ReadonlySet<string>;
}

const NAME = /^[a-z][a-z0-9_-]{0,30}$/;

// Typed comparators: sorted-btree's default one checks both operands' types on every compare.
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byNumber = (a: number, b: number): number => a - b;
const SEP = '\u0000';

/** A cursor over a table's changes since it last looked; deletions included. */
export class ChangeIterator<T> {
  /** The highest revision this iterator has returned. */
  lastRev = 0;
  private closed = false;

  constructor(
    private readonly table: Table<T>,
    private readonly graveFrom: number,
  ) {}

  /** Changes since the last call (each object once, at its latest revision), oldest first. */
  next(txn: ReadTxn, limit = Number.POSITIVE_INFINITY): Change<T>[] {
    if (this.closed) throw new Error(`change iterator of table ${this.table.name} is closed`);
    const s = txn.state(this.table);
    const out: Change<T>[] = [];
    const live = s.byRev.entries(this.lastRev + 1);
    const dead = s.graveyard.entries(Math.max(this.lastRev, this.graveFrom) + 1);
    let l = live.next();
    let d = dead.next();
    while (out.length < limit && (!l.done || !d.done)) {
      if (!l.done && (d.done || l.value[0] < d.value[0])) {
        const [rev, key] = l.value;
        const e = s.primary.get(key);
        if (e) out.push({ object: e.obj, revision: rev, deleted: false });
        l = live.next();
      } else if (!d.done) {
        out.push(d.value[1]);
        d = dead.next();
      }
    }
    const last = out.at(-1);
    this.lastRev = out.length < limit || !last ? Math.max(this.lastRev, s.rev) : last.revision;
    return out;
  }

  /** Stops tracking, letting the table forget deletions this iterator has not seen. */
  close(): void {
    this.closed = true;
    this.table.untrack(this);
  }
}

/** What a write transaction locks: any table, whatever its object type. */
export interface Lockable {
  readonly name: string;
  lockedBy: object | undefined;
}

/** A typed, indexed table of immutable objects in a DB. */
export class Table<T> implements Lockable {
  readonly name: string;
  /** @internal the committed state; use a transaction to read it. */
  state: TableState<T>;
  /** @internal the write transaction holding this table, if any. */
  lockedBy: object | undefined;
  private readonly trackers = new Set<ChangeIterator<T>>();

  constructor(
    readonly db: DB,
    readonly def: TableDef<T>,
  ) {
    if (!NAME.test(def.name)) throw new Error(`table name '${def.name}' must match ${NAME.source}`);
    this.name = def.name;
    const secondary = new Map<string, BTree<string, Entry<T>>>();
    for (const idx of def.indexes ?? []) {
      secondary.set(idx.name, new BTree<string, Entry<T>>(undefined, byString));
    }
    this.state = {
      rev: 0,
      primary: new BTree<string, Entry<T>>(undefined, byString),
      secondary,
      byRev: new BTree<number, string>(undefined, byNumber),
      graveyard: new BTree<number, Change<T>>(undefined, byNumber),
      graveByKey: new BTree<string, number>(undefined, byString),
      pendingInit: new Set(),
    };
  }

  /** The object with this primary key. */
  get(txn: ReadTxn, key: string): T | undefined {
    return txn.state(this).primary.get(key)?.obj;
  }

  /** The object and its revision. */
  getEntry(txn: ReadTxn, key: string): Entry<T> | undefined {
    return txn.state(this).primary.get(key);
  }

  /** The first object with `key` in a secondary index. */
  getBy(txn: ReadTxn, index: string, key: string): T | undefined {
    return this.listBy(txn, index, key)[0];
  }

  /** Every object with `key` in a secondary index. */
  listBy(txn: ReadTxn, index: string, key: string): T[] {
    const tree = this.secondaryTree(txn, index);
    if (this.indexDef(index).unique) {
      const e = tree.get(key);
      return e ? [e.obj] : [];
    }
    return [...this.scan(tree, key + SEP)];
  }

  /** Objects whose primary (or secondary) key starts with `prefix`, in key order. */
  prefix(txn: ReadTxn, prefix: string, index?: string): T[] {
    const tree = index === undefined ? txn.state(this).primary : this.secondaryTree(txn, index);
    return [...new Set(this.scan(tree, prefix))];
  }

  /** Objects with primary key ≥ `key`, in key order. */
  *lowerBound(txn: ReadTxn, key: string): Generator<T> {
    for (const [, e] of txn.state(this).primary.entries(key)) yield e.obj;
  }

  /** Every object, in primary key order. */
  *all(txn: ReadTxn): Generator<T> {
    for (const [, e] of txn.state(this).primary.entries()) yield e.obj;
  }

  /** How many objects the table holds. */
  count(txn: ReadTxn): number {
    return txn.state(this).primary.size;
  }

  /** The table's revision: that of its last write. */
  revision(txn: ReadTxn): number {
    return txn.state(this).rev;
  }

  /** Whether every registered initializer is done (e.g. the first sync from a source). */
  initialized(txn: ReadTxn): boolean {
    return txn.state(this).pendingInit.size === 0;
  }

  /** Starts tracking changes: the first `next()` returns every object, later ones what changed. */
  changes(): ChangeIterator<T> {
    const it = new ChangeIterator(this, this.state.rev);
    this.trackers.add(it);
    return it;
  }

  /** The changes as a stream: a first batch with every object, then a batch per commit. */
  observe(): Observable<Change<T>[]> {
    return new Observable<Change<T>[]>((sub) => {
      const it = this.changes();
      const emit = (): void => {
        const batch = it.next(this.db.readTxn());
        if (batch.length > 0) sub.next(batch);
      };
      emit();
      const s = this.db.commits$.pipe(filter((names) => names.has(this.name))).subscribe(emit);
      return () => {
        s.unsubscribe();
        it.close();
      };
    });
  }

  /** @internal the oldest revision some change iterator still needs. */
  graveyardLowWater(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const t of this.trackers) min = Math.min(min, t.lastRev);
    return min;
  }

  /** @internal */
  untrack(it: ChangeIterator<T>): void {
    this.trackers.delete(it);
  }

  /** @internal */
  indexDef(name: string): IndexDef<T> {
    const def = this.def.indexes?.find((i) => i.name === name);
    if (!def) throw new Error(`table ${this.name} has no index '${name}'`);
    return def;
  }

  private secondaryTree(txn: ReadTxn, index: string): BTree<string, Entry<T>> {
    const tree = txn.state(this).secondary.get(index);
    if (!tree) throw new Error(`table ${this.name} has no index '${index}'`);
    return tree;
  }

  private *scan(tree: BTree<string, Entry<T>>, prefix: string): Generator<T> {
    for (const [k, e] of tree.entries(prefix)) {
      if (!k.startsWith(prefix)) return;
      yield e.obj;
    }
  }
}

/** The keys an index derives from an object, as a list. */
export function indexKeys<T>(idx: IndexDef<T>, obj: T): readonly string[] {
  const k = idx.key(obj);
  return typeof k === 'string' ? [k] : k;
}

/** The key under which a non-unique index stores an object. */
export function nonUniqueKey(key: string, primary: string): string {
  return flat(key + SEP + primary);
}
