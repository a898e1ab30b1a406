import { describe, expect, it } from 'vitest';
import { Undo, UndoError, withUndo } from './undo.js';

describe('withUndo', () => {
  it('keeps what was done when the function returns', () => {
    const log: string[] = [];
    expect(
      withUndo((u) => {
        u.push('a', () => log.push('undo a'));
        return 7;
      }),
    ).toBe(7);
    expect(log).toEqual([]);
  });

  it('undoes newest first and rethrows the error unchanged', () => {
    const log: string[] = [];
    const boom = new Error('step 3 failed');
    expect(() =>
      withUndo((u) => {
        u.push('a', () => log.push('undo a'));
        u.push('b', () => log.push('undo b'));
        throw boom;
      }),
    ).toThrow(boom);
    expect(log).toEqual(['undo b', 'undo a']);
  });

  it('runs every step even when one fails, and reports both errors', () => {
    const log: string[] = [];
    let error: unknown;
    try {
      withUndo((u) => {
        u.push('delete a', () => log.push('undo a'));
        u.push('delete b', () => {
          throw new Error('EBUSY');
        });
        throw new Error('EEXIST');
      });
    } catch (e) {
      error = e;
    }
    expect(log).toEqual(['undo a']);
    expect(error).toBeInstanceOf(UndoError);
    expect((error as UndoError).message).toBe('EEXIST; undoing it also failed: delete b: EBUSY');
    expect((error as UndoError).cause).toEqual(new Error('EEXIST'));
    expect((error as UndoError).failures.map((f) => f.what)).toEqual(['delete b']);
  });

  it('empties the stack as it runs', () => {
    const u = new Undo();
    let n = 0;
    u.push('x', () => n++);
    expect(u.run()).toEqual([]);
    expect(u.run()).toEqual([]);
    expect(n).toBe(1);
  });
});
