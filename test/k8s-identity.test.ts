// CiliumIdentity allocation (crd mode) and this node's CiliumNode against the API server double,
// through the real k8s cell and @kubernetes/client-node: each "node" is a hive of the daemon,
// statedb, k8s, IPAM, node and identity cells with its own node name and kubeconfig.
import { mkdtempSync, rmSync } from 'node:fs';
import { filter, firstValueFrom } from 'rxjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { HealthTree } from '../core/hive/index.js';
import { testHive, type TestHive } from '../core/testing/test-hive.js';
import { apiCell } from '../cells/api/index.js';
import { daemonCell } from '../cells/daemon/index.js';
import { IdentityAllocator, IdentityUnavailableError } from '../cells/identity/index.js';
import { identityCell } from '../cells/identity/cell.js';
import { K8sClient, k8sCell, K8sResources } from '../cells/k8s/index.js';
import { statedbCell } from '../cells/statedb/index.js';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';

const IDS = 'ciliumidentities.cilium.io';

let api: ApiServerDouble;
/** The test's nodes, stopped one after the other (last first) before the double. */
let running: TestHive[] = [];
beforeEach(async () => {
  api = await startApiServer();
  running = [];
  return async () => {
    for (const h of running.reverse()) await h.requireStop();
    await api.stop();
  };
});

/** A started node: its identity allocator against the double (crd mode: no kvstore). */
async function node(name: string, flags: Record<string, unknown> = {}): Promise<TestHive> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-k8sid-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const h = testHive([apiCell, daemonCell, statedbCell, k8sCell, identityCell], {
    flags: {
      'node-name': name,
      'socket-path': join(dir, 'api.sock'),
      'state-dir': join(dir, 'state'),
      'k8s-kubeconfig-path': api.kubeconfigPath,
      ...flags,
    },
  });
  await h.hive.start();
  running.push(h);
  // The CRDs registered and the identities listed: the allocator's table is synced.
  await h.get(K8sResources).ciliumIdentities.waitSynced();
  return h;
}

const ids = (h: TestHive) => h.get(IdentityAllocator);
const objects = () =>
  api.list<{ metadata: { name: string; labels?: object }; 'security-labels': object }>(IDS);
const WEB = ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default'];

describe('identities as CiliumIdentity objects (API server double, real client)', () => {
  it('gives the same labels on two nodes one id and one object', async () => {
    const a = await node('n1');
    const b = await node('n2');
    const [x, y] = await Promise.all([ids(a).allocate(WEB), ids(b).allocate([...WEB].reverse())]);
    expect(y.id).toBe(x.id);
    const all = objects();
    expect(all).toHaveLength(1);
    expect(all[0]?.metadata).toMatchObject({
      name: String(x.id),
      labels: { app: 'web', 'io.kubernetes.pod.namespace': 'default' },
    });
    expect(all[0]?.['security-labels']).toEqual({
      'k8s:app': 'web',
      'k8s:io.kubernetes.pod.namespace': 'default',
    });
  });

  it('allocates 20 new label sets from three nodes at once into exactly 20 objects', async () => {
    const nodes = [await node('n1'), await node('n2'), await node('n3')];
    const sets = Array.from({ length: 20 }, (_, i) => [`k8s:app=a${i}`, 'k8s:tier=x']);
    const got = await Promise.all(
      nodes.flatMap((n) => sets.map(async (s) => `${s[0]} ${(await ids(n).allocate(s)).id}`)),
    );
    // Each label set has one id on every node, and the ids differ between sets.
    expect(new Set(got).size).toBe(20);
    expect(new Set(got.map((g) => g.split(' ')[1])).size).toBe(20);
    expect(objects()).toHaveLength(20);
  });

  it('lists an identity another node created, and streams it', async () => {
    const a = await node('n1');
    const seen: number[] = [];
    const sub = ids(a).changes$.subscribe((c) => {
      if (c.kind === 'upsert') seen.push(c.identity.id);
    });
    onTestFinished(() => sub.unsubscribe());
    api.create(IDS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: '31000' },
      'security-labels': { 'k8s:app': 'remote' },
    });
    await expect.poll(() => ids(a).get(31000)?.labels).toEqual(['k8s:app=remote']);
    expect(seen).toContain(31000);
    expect(
      ids(a)
        .list()
        .map((i) => i.id),
    ).toContain(31000);
    // And a new allocation of those labels takes it, with no create.
    const creates = () => api.requests.filter((r) => r.method === 'POST').length;
    const before = creates();
    expect((await ids(a).allocate(['k8s:app=remote'])).id).toBe(31000);
    expect(creates()).toBe(before);
  });

  it('restores a saved id and re-creates its object when it is gone', async () => {
    const a = await node('n1');
    const r = ids(a).restore(WEB, 12345);
    expect(r.id).toBe(12345);
    const obj = await api.waitFor<{ metadata: { name: string } }>(
      IDS,
      (o) => o.metadata.name === '12345',
    );
    expect(obj).toMatchObject({ 'security-labels': { 'k8s:app': 'web' } });
    expect((await ids(a).allocate(WEB)).id).toBe(12345);
  });

  it('paused: known labels still get their id; new ones wait, and succeed after resume or fail clearly', async () => {
    const a = await node('n1', { 'identity-allocation-timeout': '30s' });
    const known = await ids(a).allocate(WEB);
    await api.pause();
    expect((await ids(a).allocate([...WEB].reverse())).id).toBe(known.id);
    const waiting = ids(a).allocate(['k8s:app=new']);
    // The client found the server unreachable while the allocation waits; then it comes back.
    await firstValueFrom(a.get(K8sClient).connected$.pipe(filter((up) => !up)));
    await api.resume();
    const fresh = await waiting;
    expect(api.get(IDS, { name: String(fresh.id) })).toBeDefined();

    const b = await node('n2', { 'identity-allocation-timeout': '1s' });
    await api.pause();
    await expect(ids(b).allocate(['k8s:app=never'])).rejects.toThrow(IdentityUnavailableError);
    await expect(ids(b).allocate(['k8s:app=never'])).rejects.toThrow(
      /no identity for k8s:app=never;: the Kubernetes API server did not answer within 1s/,
    );
    await api.resume();
  });

  it('skips a hostile object with a health note, keeping the others', async () => {
    const a = await node('n1');
    const x = await ids(a).allocate(WEB);
    api.create(IDS, {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: '999999' },
      'security-labels': { 'k8s:app': 'x' },
    });
    const crd = () =>
      a
        .get(HealthTree)
        .all()
        .find((s) => s.id.endsWith('identity.crd'));
    await expect
      .poll(() => crd()?.message)
      .toMatch(/skipped 1 invalid CiliumIdentity objects: 999999: identity 999999 is outside/);
    expect(ids(a).get(x.id)?.labels).toEqual(WEB);
  });
});
