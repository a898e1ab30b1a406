// The lazy store when etcd3 cannot be loaded: start reports it, and calls fail with it rather
// than wait for a store that will never come.
import { describe, expect, it } from 'vitest';
import { LazyKVStore } from './lazy.js';

describe('LazyKVStore', () => {
  it('fails waiting calls and watches with the load error; stop does not throw', async () => {
    const store = new LazyKVStore(() => Promise.reject(new Error('cannot load etcd3')));
    const waiting = store.get('k');
    await expect(store.start()).rejects.toThrow('cannot load etcd3');
    await expect(waiting).rejects.toThrow('cannot load etcd3');
    await expect(store.list('p/')).rejects.toThrow('cannot load etcd3');
    await expect(store.stop()).resolves.toBeUndefined();
  });
});
