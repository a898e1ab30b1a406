// Endpoint writes racing each other while their identities are being allocated: the kvstore
// allocator answers later, so a change is planned again against the endpoints as they are then.
import { describe, expect, it, vi } from 'vitest';
import type { Model } from '../../core/api/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { IdentityAllocator, IdentityUnavailableError, type Identity } from '../identity/index.js';
import { Ipam } from '../ipam/index.js';
import { call, epHive, request } from './fixtures.js';
import { EndpointManager } from './index.js';

/** Holds every allocation until the test lets it go (in any order). */
function holdAllocations(ids: IdentityAllocator) {
  const held: { readonly labels: string[]; go(): void; fail(e: Error): void }[] = [];
  const real = ids.allocate.bind(ids);
  vi.spyOn(ids, 'allocate').mockImplementation(
    (labels, signal) =>
      new Promise<Identity>((resolve, reject) => {
        held.push({
          labels: [...labels],
          go: () => void real(labels, signal).then(resolve, reject),
          fail: reject,
        });
      }),
  );
  /** The held allocation whose labels contain `label`, once it is asked for. */
  const waitFor = (label: string) =>
    eventually(() => held.find((x) => x.labels.some((l) => l.includes(label))));
  return { held, waitFor };
}

const local = (id: number) => ({ kind: 'cilium-local', id }) as const;
/** Pod `n`'s request, answered without waiting for the build. */
const async_ = (n: number, extra: Record<string, unknown> = {}) =>
  request(n, { 'sync-build-endpoint': false, ...extra }) as Model<'EndpointChangeRequest'>;

/** Every identity with a local reference, as `id labels×refs`. */
function refs(ids: IdentityAllocator): string[] {
  return ids
    .list()
    .filter((i) => ids.refCount(i.id) > 0)
    .map(
      (i) => `${i.labels.filter((l) => !l.includes('namespace')).join(',')}×${ids.refCount(i.id)}`,
    );
}

describe('endpoint writes while identities are allocated', () => {
  it('two creates of the same id: one wins, the other is refused and its identity released', async () => {
    const h = epHive();
    await h.requireStart();
    const m = h.get(EndpointManager);
    const ids = h.get(IdentityAllocator);
    const { waitFor } = holdAllocations(ids);
    const a = m.create(local(7), async_(1, { labels: ['k8s:app=a'] }));
    const b = m.create(local(7), async_(2, { labels: ['k8s:app=b'] }));
    const ha = await waitFor('app=a');
    const hb = await waitFor('app=b');
    hb.go();
    expect((await b).id).toBe(7);
    ha.go();
    await expect(a).rejects.toMatchObject({ status: 409, message: 'endpoint 7 already exists' });
    expect(m.list().map((e) => e.id)).toEqual([7]);
    expect(refs(ids)).toEqual(['k8s:app=b×1']);
    expect(h.get(Ipam).allocations()).toEqual({ '10.9.0.12': 'default/pod2' });
  });

  it('two creates choosing ids and claiming the same IP: distinct ids, the IP to the first done', async () => {
    const h = epHive();
    await h.requireStart();
    const m = h.get(EndpointManager);
    const ids = h.get(IdentityAllocator);
    const { waitFor } = holdAllocations(ids);
    const a = m.create(local(0), async_(1, { labels: ['k8s:app=a'] }));
    const b = m.create(local(0), async_(2, { labels: ['k8s:app=b'] }));
    const c = m.create(
      local(0),
      async_(3, { labels: ['k8s:app=c'], addressing: { ipv4: '10.9.0.12' } }),
    );
    const [ha, hb, hc] = [await waitFor('app=a'), await waitFor('app=b'), await waitFor('app=c')];
    hc.go();
    hb.go();
    ha.go();
    const [ea, eb, ec] = await Promise.allSettled([a, b, c]);
    expect(ec).toMatchObject({ status: 'fulfilled', value: { id: 1, ipv4: '10.9.0.12' } });
    expect(eb).toMatchObject({
      status: 'rejected',
      reason: { status: 409, message: '10.9.0.12 is already used by endpoint 1' },
    });
    expect(ea).toMatchObject({ status: 'fulfilled', value: { id: 2 } });
    expect(refs(ids).sort()).toEqual(['k8s:app=a×1', 'k8s:app=c×1']);
  });

  it('relabels racing each other end with the last applied, every other reference released', async () => {
    const h = epHive();
    await h.requireStart();
    const m = h.get(EndpointManager);
    const ids = h.get(IdentityAllocator);
    const ep = await m.create(local(0), async_(1));
    const { held, waitFor } = holdAllocations(ids);
    const x = m.setUserLabels(local(ep.id), ['app=x']);
    const y = m.setUserLabels(local(ep.id), ['app=y']);
    const patch = m.update(local(ep.id), { ...async_(1), labels: ['k8s:app=p'] });
    const [hx, hy, hp] = [await waitFor('app=x'), await waitFor('app=y'), await waitFor('app=p')];
    hy.go();
    await y;
    // The PATCH allocated for its labels over the user labels it saw (none); they are app=y now.
    hp.go();
    const again = await eventually(() =>
      held.find((a) => a.labels.includes('app=y') && a.labels.includes('k8s:app=p')),
    );
    again.go();
    await patch;
    // The same for app=x: allocated over app=web, which the PATCH replaced meanwhile.
    hx.go();
    const xAgain = await eventually(() =>
      held.find((a) => a.labels.includes('app=x') && a.labels.includes('k8s:app=p')),
    );
    xAgain.go();
    const last = await x;
    expect(last.labels).toEqual(['k8s:app=p']);
    expect(last.userLabels).toEqual(['app=x']);
    expect(ids.get(last.identity)?.labels).toEqual([
      'k8s:app=p',
      'k8s:io.kubernetes.pod.namespace=default',
      'unspec:app=x',
    ]);
    expect(refs(ids)).toEqual(['k8s:app=p,unspec:app=x×1']);
  });

  it('a relabel of an endpoint deleted meanwhile is refused (404) and its identity released', async () => {
    const h = epHive();
    await h.requireStart();
    const m = h.get(EndpointManager);
    const ids = h.get(IdentityAllocator);
    const ep = await m.create(local(0), async_(1));
    const { waitFor } = holdAllocations(ids);
    const x = m.setUserLabels(local(ep.id), ['app=x']);
    const hx = await waitFor('app=x');
    await m.delete(local(ep.id));
    hx.go();
    await expect(x).rejects.toMatchObject({ status: 404 });
    expect(refs(ids)).toEqual([]);
  });

  it('an identity store out of reach answers 503 naming it, and changes nothing', async () => {
    const h = epHive();
    await h.requireStart();
    const ids = h.get(IdentityAllocator);
    const { waitFor } = holdAllocations(ids);
    const put = call(h, 'PUT', '/endpoint/0', request(1));
    (await waitFor('app=web')).fail(
      new IdentityUnavailableError('the kvstore (etcd) did not answer within 15s'),
    );
    expect(await put).toEqual({
      status: 503,
      body: 'identity: the kvstore (etcd) did not answer within 15s',
    });
    expect(h.get(EndpointManager).list()).toEqual([]);
    expect(h.get(Ipam).allocations()).toEqual({});
  });
});
