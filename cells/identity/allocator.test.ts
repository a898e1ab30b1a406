import { describe, expect, it } from 'vitest';
import { LocalIdentityAllocator } from './allocator.js';
import { labelsSha256 } from './labels.js';

describe('LocalIdentityAllocator', () => {
  it('has the reserved identities with Cilium numbers', async () => {
    const a = new LocalIdentityAllocator();
    expect(a.get(1)?.labels).toEqual(['reserved:host']);
    expect(a.get(2)?.labels).toEqual(['reserved:world']);
    expect(a.get(6)?.labels).toEqual(['reserved:remote-node']);
    expect(a.get(8)?.labels).toEqual(['reserved:ingress']);
    expect((await a.allocate(['reserved:host'])).id).toBe(1);
  });

  it('gives the same labels the same id, in any order, and counts references', async () => {
    const a = new LocalIdentityAllocator();
    const x = await a.allocate(['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default']);
    const y = await a.allocate([
      'k8s:io.kubernetes.pod.namespace=default',
      'k8s:app=web',
      'k8s:app=web',
    ]);
    expect(x.id).toBe(256);
    expect(y).toBe(x);
    expect(a.refCount(256)).toBe(2);
    expect((await a.allocate(['k8s:app=db'])).id).toBe(257);
    expect(x.labelsSHA256).toBe(
      labelsSha256(['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default']),
    );
  });

  it('frees an identity with its last reference, emits changes, and reuses the id', async () => {
    const a = new LocalIdentityAllocator();
    const seen: string[] = [];
    a.changes$.subscribe((c) => seen.push(`${c.kind} ${c.identity.id}`));
    const x = await a.allocate(['k8s:app=web']);
    await a.allocate(['k8s:app=web']);
    expect(a.release(x)).toBe(false);
    expect(a.release(x)).toBe(true);
    expect(a.get(256)).toBeUndefined();
    expect((await a.allocate(['k8s:app=other'])).id).toBe(256);
    expect(seen).toEqual(['upsert 256', 'delete 256', 'upsert 256']);
  });

  it('restores a label set under its previous id, unless the id is taken', () => {
    const a = new LocalIdentityAllocator();
    expect(a.restore(['k8s:app=web'], 4000).id).toBe(4000);
    expect(a.restore(['k8s:app=db'], 4000).id).toBe(256);
    expect(a.restore(['k8s:app=web'], 4000).id).toBe(4000);
    expect(a.refCount(4000)).toBe(2);
  });

  it('never takes a corrupt id on restore, and ignores a release of what it does not hold', async () => {
    const a = new LocalIdentityAllocator();
    // A wrong-typed id from disk once became an identity, poisoning others and the next free id.
    const poisoned = a.restore(['k8s:app=web'], 'abc' as unknown as number);
    expect(poisoned.id).toBe(256);
    expect(a.restore(['k8s:app=db'], Number.NaN).id).toBe(257);
    expect(a.restore(['k8s:app=x'], 1.5).id).toBe(258);
    // A stale or forged copy changes nothing; the real one is released once.
    expect(a.release({ ...poisoned })).toBe(false);
    expect(a.release({ id: 9999, labels: ['k8s:app=z'], labelsSHA256: '', reserved: false })).toBe(
      false,
    );
    expect(a.refCount(256)).toBe(1);
    expect(a.release(poisoned)).toBe(true);
    expect(a.release(poisoned)).toBe(false);
    expect((await a.allocate(['k8s:app=new'])).id).toBe(256);
  });
});
