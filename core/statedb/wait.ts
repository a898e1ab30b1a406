import type { DB } from './txn.js';

/**
 * Resolves with what `check` returns once it returns something (not undefined), looking at
 * once and again after each commit that touches `table`; rejects with what `check` throws, or
 * with `timeout()` after `timeoutMs` (Infinity: never), or when `signal` aborts. Woken by
 * commits, never polling.
 */
export function waitFor<R>(
  db: DB,
  table: { readonly name: string },
  check: () => R | undefined,
  timeoutMs: number,
  timeout: () => Error,
  signal?: AbortSignal,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const settled = (): boolean => {
      try {
        const r = check();
        if (r === undefined) return false;
        resolve(r);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
      return true;
    };
    if (settled()) return;
    const sub = db.commits$.subscribe((names) => {
      if (names.has(table.name) && settled()) finish();
    });
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          reject(timeout());
          finish();
        }, timeoutMs)
      : undefined;
    const aborted = (): void => {
      reject(new Error('stopped'));
      finish();
    };
    signal?.addEventListener('abort', aborted, { once: true });
    const finish = (): void => {
      sub.unsubscribe();
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
    };
  });
}
