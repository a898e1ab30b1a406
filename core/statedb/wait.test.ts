import { describe, expect, it } from 'vitest';
import { DB, waitFor } from './index.js';

function setup() {
  const db = new DB();
  const t = db.newTable<{ k: string; v: number }>({ name: 'things', primaryKey: (o) => o.k });
  const other = db.newTable<{ k: string }>({ name: 'others', primaryKey: (o) => o.k });
  const v = () => t.get(db.readTxn(), 'a')?.v;
  return { db, t, other, v };
}

describe('waitFor', () => {
  it('resolves at once, or after the commit of its table that satisfies it', async () => {
    const { db, t, other, v } = setup();
    db.update([t], (w) => w.insert(t, { k: 'a', v: 1 }));
    await expect(
      waitFor(
        db,
        t,
        () => v(),
        1000,
        () => new Error('late'),
      ),
    ).resolves.toBe(1);
    const p = waitFor(
      db,
      t,
      () => ((v() ?? 0) >= 3 ? v() : undefined),
      5000,
      () => new Error('late'),
    );
    db.update([other], (w) => w.insert(other, { k: 'x' }));
    db.update([t], (w) => w.insert(t, { k: 'a', v: 2 }));
    db.update([t], (w) => w.insert(t, { k: 'a', v: 3 }));
    await expect(p).resolves.toBe(3);
  });

  it('rejects with what check throws, on timeout, and on abort', async () => {
    const { db, t } = setup();
    const thrown = waitFor(
      db,
      t,
      () => {
        if (t.get(db.readTxn(), 'a')) throw new Error('gone wrong');
        return undefined;
      },
      5000,
      () => new Error('late'),
    );
    db.update([t], (w) => w.insert(t, { k: 'a', v: 1 }));
    await expect(thrown).rejects.toThrow('gone wrong');
    await expect(
      waitFor(
        db,
        t,
        () => undefined,
        10,
        () => new Error('late'),
      ),
    ).rejects.toThrow('late');
    const ac = new AbortController();
    const stopped = waitFor(
      db,
      t,
      () => undefined,
      Infinity,
      () => new Error('late'),
      ac.signal,
    );
    ac.abort();
    await expect(stopped).rejects.toThrow('stopped');
  });
});
