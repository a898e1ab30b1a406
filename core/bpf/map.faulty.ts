import { BpfError, type BpfTarget } from './errors.js';
import type { RawMap, UpdateFlag } from './map.js';

/** Operations a fault can be injected into. */
export type FaultOp = 'lookup' | 'update' | 'delete' | 'iterate';

/**
 * Wraps a map and fails chosen operations with a chosen errno, to test retries and degraded
 * health: `faulty.fail('update', E.E2BIG, 3)` fails the next three updates.
 */
export class FaultyMap implements RawMap {
  private readonly faults = new Map<FaultOp, { errno: number; left: number; skip: number }>();

  constructor(readonly inner: RawMap) {}

  get shape(): RawMap['shape'] {
    return this.inner.shape;
  }
  get name(): string {
    return this.inner.name;
  }
  get type(): RawMap['type'] {
    return this.inner.type;
  }
  get keySize(): number {
    return this.inner.keySize;
  }
  get valueSize(): number {
    return this.inner.valueSize;
  }
  get maxEntries(): number {
    return this.inner.maxEntries;
  }
  get flags(): number {
    return this.inner.flags;
  }
  get ncpus(): number {
    return this.inner.ncpus;
  }
  get backend(): RawMap['backend'] {
    return this.inner.backend;
  }
  get pinPath(): string | undefined {
    return this.inner.pinPath;
  }
  get layouts(): RawMap['layouts'] {
    return this.inner.layouts;
  }

  /**
   * Fails the next `times` calls of `op` (forever by default) with `errno`, after letting
   * `after` calls through (to fail the second write of several).
   */
  fail(op: FaultOp, errno: number, times = Number.POSITIVE_INFINITY, after = 0): void {
    this.faults.set(op, { errno, left: times, skip: after });
  }

  /** Stops injecting faults. */
  heal(): void {
    this.faults.clear();
  }

  private maybeFail(op: FaultOp): void {
    const f = this.faults.get(op);
    if (!f || f.left <= 0) return;
    if (f.skip > 0) {
      f.skip--;
      return;
    }
    f.left--;
    const t: BpfTarget = { kind: 'map', name: this.inner.name, maxEntries: this.inner.maxEntries };
    throw new BpfError(op, f.errno, t);
  }

  lookup(key: Buffer, out: Buffer): boolean {
    this.maybeFail('lookup');
    return this.inner.lookup(key, out);
  }
  update(key: Buffer, value: Buffer, flag: UpdateFlag): void {
    this.maybeFail('update');
    this.inner.update(key, value, flag);
  }
  delete(key: Buffer): boolean {
    this.maybeFail('delete');
    return this.inner.delete(key);
  }
  nextKey(key: Buffer | null, out: Buffer): boolean {
    this.maybeFail('iterate');
    return this.inner.nextKey(key, out);
  }
  *dump(): Generator<[Buffer, Buffer]> {
    this.maybeFail('iterate');
    yield* this.inner.dump();
  }
  count(): number {
    this.maybeFail('iterate');
    return this.inner.count();
  }
  updateBatch(keys: Buffer, values: Buffer, count: number, flag: UpdateFlag): void {
    this.maybeFail('update');
    this.inner.updateBatch(keys, values, count, flag);
  }
  deleteBatch(keys: Buffer, count: number): number {
    this.maybeFail('delete');
    return this.inner.deleteBatch(keys, count);
  }
  close(): void {
    this.inner.close();
  }
}
