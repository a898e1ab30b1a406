// The policy cell in Kubernetes mode on in-memory reflected tables (resources.memory.ts): policy
// objects become repository rules after the caches sync, are replaced and removed with their
// objects, rules of objects deleted while the agent was down go at the first sync, the API's
// rules are never touched, bad objects are skipped by name, and a sync of 500 policies is one
// repository change (one write of rules.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { module, provide, HealthTree } from '../../core/hive/index.js';
import { eventually } from '../../core/testing/test-hive.js';
import { call, epHive, request, type EpHive } from '../endpoint/fixtures.js';
import { K8sResources, type CiliumPolicyObject, type NetworkPolicy } from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { PolicyMaps } from '../policymap/index.js';
import { StateDB } from '../statedb/index.js';
import { Policy, policyCell } from './index.js';

const hives: EpHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) await h.requireStop();
});

/** A policy hive whose K8sResources are in-memory tables the test fills. */
async function start(dir?: string, enabled = true): Promise<EpHive & { k8s: MemoryK8sResources }> {
  let k8s: MemoryK8sResources | undefined;
  const fake = module(
    'k8sfake',
    'In-memory reflected Kubernetes tables',
    provide(K8sResources, { db: StateDB }, ({ db }) => {
      k8s = newMemoryK8sResources(db, enabled);
      return k8s;
    }),
  );
  const h = epHive(dir, { extra: [fake, policyCell] });
  hives.push(h);
  await h.requireStart();
  if (!k8s) throw new Error('K8sResources not built');
  return Object.assign(h, { k8s });
}

function np(
  name: string,
  app: string,
  from: string,
  ns = 'default',
  uid = `uid-${name}`,
): NetworkPolicy {
  return wire({
    metadata: { name, namespace: ns, uid },
    spec: {
      podSelector: { matchLabels: { app } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: from } } }], ports: [{ port: 80 }] }],
    },
  });
}

/** A NetworkPolicy as the API server sends it (`from`, which client-node's type calls `_from`). */
const wire = (o: unknown) => o as NetworkPolicy;

function cnp(name: string, app: string, ns?: string): CiliumPolicyObject {
  return {
    metadata: { name, ...(ns === undefined ? {} : { namespace: ns }), uid: `uid-${name}` },
    spec: { endpointSelector: { matchLabels: { app } }, ingress: [{ fromEntities: ['world'] }] },
  };
}

/** The repository's rules as `derived-from name namespace` (API rules: their labels). */
function rules(h: EpHive): string[] {
  return h
    .get(Policy)
    .repo.rules()
    .map((r) => {
      const l = (k: string) =>
        r.compiled.rule.labels
          .find((x) => x.startsWith(`k8s:io.cilium.k8s.policy.${k}=`))
          ?.split('=')[1];
      return l('derived-from') === undefined
        ? r.compiled.rule.labels.join(',')
        : [l('derived-from'), l('namespace') ?? '-', l('name')].join(' ');
    })
    .sort();
}

function syncHealth(h: EpHive): { level: string; message: string } | undefined {
  return h
    .get(HealthTree)
    .all()
    .find((s) => s.id.endsWith('.k8s-policies'));
}

const revision = (h: EpHive) => h.get(Policy).repo.revision;

describe('Kubernetes policies → repository', () => {
  it('applies policies once the caches sync; replaces on update; removes on delete', async () => {
    const h = await start();
    const api = await call(
      h,
      'PUT',
      '/policy',
      JSON.stringify([{ endpointSelector: {}, labels: ['api=yes'] }]),
    );
    expect(api.status).toBe(200);
    h.k8s.upsert('networkPolicies', np('a', 'db', 'web'));
    h.k8s.upsert('ciliumNetworkPolicies', cnp('c', 'db', 'prod'));
    h.k8s.upsert('ciliumClusterwideNetworkPolicies', cnp('cw', 'db'));
    // Nothing before all three caches hold their first list.
    h.k8s.setSynced('networkPolicies', 'ciliumNetworkPolicies');
    await eventually(
      () =>
        syncHealth(h)?.message ===
        'waiting for the caches of CiliumClusterwideNetworkPolicy to sync',
    );
    expect(rules(h)).toEqual(['unspec:api=yes']);
    const before = revision(h);
    h.k8s.setSynced('ciliumClusterwideNetworkPolicies');
    await eventually(() => rules(h).length === 4);
    expect(rules(h)).toEqual([
      'CiliumClusterwideNetworkPolicy - cw',
      'CiliumNetworkPolicy prod c',
      'NetworkPolicy default a',
      'unspec:api=yes',
    ]);
    // The three objects in one change.
    expect(revision(h)).toBe(before + 1);
    expect(syncHealth(h)).toMatchObject({ level: 'ok', message: '3 Kubernetes policies applied' });

    // An endpoint the NetworkPolicy selects gets its policy: port 80 from web, in the maps. In
    // Kubernetes mode endpoints take their labels from their pods, once those caches sync.
    const podOf = (name: string, app: string) => ({
      metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app } },
      spec: { containers: [{ name: 'c' }] },
    });
    h.k8s.upsert('namespaces', { metadata: { name: 'default' } });
    h.k8s.upsert('pods', podOf('pod1', 'db'), podOf('pod2', 'web'));
    h.k8s.setSynced('pods', 'namespaces');
    const ep = await call(h, 'PUT', '/endpoint/0', {
      ...request(1),
      labels: ['k8s:app=db', 'k8s:io.kubernetes.pod.namespace=default'],
    });
    expect(ep.status).toBe(201);
    const id = (ep.body as unknown as { id: number }).id;
    const web = await call(h, 'PUT', '/endpoint/0', {
      ...request(2),
      labels: ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default'],
    });
    const webIdentity = (
      (await call(h, 'GET', `/endpoint/${(web.body as unknown as { id: number }).id}`)).body as {
        status: { identity: { id: number } };
      }
    ).status.identity.id;
    const ingress = (port: number) =>
      [...h.get(PolicyMaps).endpointMap(id).entries()].some(
        ([k]) => !k.egress && k.sec_label === webIdentity && k.dport === port,
      );
    await eventually(() => ingress(80));

    // Updated: its rule replaced (port 8080 now), not added beside the old one.
    h.k8s.upsert(
      'networkPolicies',
      wire({
        ...np('a', 'db', 'web'),
        spec: {
          ...np('a', 'db', 'web').spec,
          ingress: [
            { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 8080 }] },
          ],
        },
      }),
    );
    await eventually(() => ingress(8080) && !ingress(80));
    expect(rules(h)).toHaveLength(4);

    // Deleted: its rule goes; the API's and the other objects' stay.
    h.k8s.remove('networkPolicies', np('a', 'db', 'web'));
    await eventually(() => rules(h).length === 3);
    expect(rules(h)).toEqual([
      'CiliumClusterwideNetworkPolicy - cw',
      'CiliumNetworkPolicy prod c',
      'unspec:api=yes',
    ]);
    await eventually(() => !ingress(8080));
  });

  it("the REST API cannot delete or replace a Kubernetes object's rules (403; the API's go, theirs stay)", async () => {
    const h = await start();
    h.k8s.upsert('networkPolicies', np('a', 'db', 'web'));
    h.k8s.upsert('ciliumNetworkPolicies', cnp('c', 'db', 'prod'));
    h.k8s.upsert('ciliumClusterwideNetworkPolicies', cnp('cw', 'db'));
    h.k8s.setSynced('networkPolicies', 'ciliumNetworkPolicies', 'ciliumClusterwideNetworkPolicies');
    await eventually(() => rules(h).length === 3);
    const k8sRules = rules(h);
    // Labels only the object's rule carries: refused, naming the object.
    const del = await call(h, 'DELETE', '/policy', ['k8s:io.cilium.k8s.policy.name=c']);
    expect(del.status).toBe(403);
    expect(JSON.stringify(del.body)).toContain('CiliumNetworkPolicy/prod/c');
    // An import with the same labels (a manifest imported by hand) and `replace`: added beside.
    const manifest = [
      {
        endpointSelector: {},
        labels: [
          'k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy',
          'k8s:io.cilium.k8s.policy.name=c',
          'k8s:io.cilium.k8s.policy.namespace=prod',
          'k8s:io.cilium.k8s.policy.uid=uid-c',
        ],
      },
    ];
    const put = await call(h, 'PUT', '/policy?replace=true', JSON.stringify(manifest));
    expect(put.status).toBe(200);
    const withLabels = await call(
      h,
      'PUT',
      '/policy?replace-with-labels=k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy',
      JSON.stringify([{ endpointSelector: {}, labels: ['api=yes'] }]),
    );
    expect(withLabels.status).toBe(200);
    expect(rules(h)).toEqual([...k8sRules, 'CiliumNetworkPolicy prod c', 'unspec:api=yes'].sort());
    // Labels matching both: the API's rule goes, the object's stays; no labels: all the API's go.
    expect((await call(h, 'DELETE', '/policy', ['k8s:io.cilium.k8s.policy.name=c'])).status).toBe(
      200,
    );
    expect(rules(h)).toEqual([...k8sRules, 'unspec:api=yes'].sort());
    expect((await call(h, 'DELETE', '/policy')).status).toBe(200);
    expect(rules(h)).toEqual(k8sRules);
  });

  it('removes at the first sync the rules of objects deleted while the agent was down', async () => {
    const h = await start();
    await call(
      h,
      'PUT',
      '/policy',
      JSON.stringify([{ endpointSelector: {}, labels: ['api=yes'] }]),
    );
    // An API import of a manifest carries derived labels too: it is still the API's.
    const manifest = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'gone', namespace: 'prod' },
      spec: { endpointSelector: {} },
    };
    expect((await call(h, 'PUT', '/policy', JSON.stringify(manifest))).status).toBe(200);
    h.k8s.upsert('networkPolicies', np('keep', 'db', 'web'), np('gone', 'db', 'web'));
    h.k8s.upsert('ciliumNetworkPolicies', cnp('gone', 'db', 'prod'));
    h.k8s.setSynced();
    await eventually(() => rules(h).length === 5);
    const dir = h.dir;
    await h.requireStop();
    hives.splice(0);
    const stored = JSON.parse(readFileSync(join(dir, 'state', 'policy', 'rules.json'), 'utf8')) as {
      resources: (string | null)[];
    };
    expect([...stored.resources].sort()).toEqual([
      'CiliumNetworkPolicy/prod/gone',
      'NetworkPolicy/default/gone',
      'NetworkPolicy/default/keep',
      null,
      null,
    ]);

    // Down: `gone` deleted in the cluster. Restarted: the tables hold only `keep`.
    const h2 = await start(dir);
    expect(rules(h2)).toHaveLength(5);
    const rev = revision(h2);
    h2.k8s.upsert('networkPolicies', np('keep', 'db', 'web'));
    h2.k8s.setSynced();
    await eventually(() => rules(h2).length === 3);
    expect(rules(h2)).toEqual([
      'CiliumNetworkPolicy prod gone', // the API's import
      'NetworkPolicy default keep',
      'unspec:api=yes',
    ]);
    // One change: the stale ones removed; `keep`, unchanged, not rewritten.
    expect(revision(h2)).toBe(rev + 1);
    expect(syncHealth(h2)).toMatchObject({ level: 'ok', message: '1 Kubernetes policy applied' });
  });

  it('a restart with the same objects rewrites nothing', async () => {
    const h = await start();
    h.k8s.upsert('networkPolicies', np('a', 'db', 'web'), np('b', 'x', 'y', 'prod'));
    h.k8s.setSynced();
    await eventually(() => rules(h).length === 2);
    const rev = revision(h);
    const dir = h.dir;
    await h.requireStop();
    hives.splice(0);
    const h2 = await start(dir);
    h2.k8s.upsert('networkPolicies', np('a', 'db', 'web'), np('b', 'x', 'y', 'prod'));
    h2.k8s.setSynced();
    await eventually(() => syncHealth(h2)?.message === '2 Kubernetes policies applied');
    expect(revision(h2)).toBe(rev);
  });

  it('skips bad objects by name (health, log), keeps what they had, applies the rest', async () => {
    const h = await start();
    h.k8s.upsert('networkPolicies', np('a', 'db', 'web'));
    h.k8s.setSynced();
    await eventually(() => rules(h).length === 1);
    const text = () => h.get(Policy).repo.rules()[0]?.text;
    const good = text();
    // A bad update: the old rules stay; a bad new object: nothing; a good one beside: applied.
    h.k8s.upsert(
      'networkPolicies',
      {
        ...np('a', 'db', 'web'),
        spec: { podSelector: { matchLabels: { app: 7 } } },
      } as unknown as NetworkPolicy,
      {
        metadata: { name: 'b', namespace: 'default' },
        spec: { podSelector: {}, policyTypes: ['Sideways'] },
      },
      np('c', 'x', 'y'),
    );
    h.k8s.upsert('ciliumNetworkPolicies', {
      ...cnp('d', 'db', 'prod'),
      spec: { endpointSelector: {}, egress: [{ toFQDNs: [{ matchName: 'x.io' }] }] },
    });
    await eventually(() => syncHealth(h)?.level === 'degraded');
    expect(rules(h)).toEqual(['NetworkPolicy default a', 'NetworkPolicy default c']);
    expect(text()).toBe(good);
    const msg = syncHealth(h)?.message ?? '';
    expect(msg).toMatch(/^2 Kubernetes policies applied, 3 with problems: /);
    expect(msg).toContain(
      'NetworkPolicy/default/a: NetworkPolicy default/a: endpointSelector.matchExpressions[0].values[0]: must be a string, not 7',
    );
    expect(msg).toContain(
      'NetworkPolicy/default/b: NetworkPolicy default/b: spec.policyTypes[0]: "Sideways" is not Ingress or Egress',
    );
    expect(msg).toContain(
      'CiliumNetworkPolicy/prod/d: rule 0 (CiliumNetworkPolicy prod/d): egress[0].toFQDNs',
    );
    // Fixed or deleted: healthy again.
    h.k8s.upsert('networkPolicies', np('a', 'db', 'other'));
    h.k8s.remove('networkPolicies', np('b', '', ''));
    h.k8s.remove('ciliumNetworkPolicies', cnp('d', '', 'prod'));
    await eventually(() => syncHealth(h)?.level === 'ok');
    expect(text()).not.toBe(good);
    expect(syncHealth(h)?.message).toBe('2 Kubernetes policies applied');
  });

  it('a policy with named ports is applied in part, closed, and says so', async () => {
    const h = await start();
    const named = np('n', 'db', 'web');
    named.spec = {
      ...named.spec,
      ingress: [{ ports: [{ port: 'http' }] }],
    };
    h.k8s.upsert('networkPolicies', named);
    h.k8s.setSynced();
    await eventually(() => syncHealth(h)?.level === 'degraded');
    expect(rules(h)).toEqual(['NetworkPolicy default n']);
    expect(h.get(Policy).repo.rules()[0]?.json.ingress).toEqual([{}]);
    expect(syncHealth(h)?.message).toContain(
      'NetworkPolicy/default/n: applied in part: spec.ingress[0].ports[0].port: named port "http"',
    );
  });

  it('syncs 500 policies in one repository change (one write of rules.json)', async () => {
    const h = await start();
    const rev = revision(h);
    h.k8s.upsert(
      'networkPolicies',
      ...Array.from({ length: 500 }, (_, i) => np(`p${i}`, `a${i}`, `b${i}`, `ns${i % 7}`)),
    );
    h.k8s.setSynced();
    await eventually(() => rules(h).length === 500);
    expect(revision(h)).toBe(rev + 1);
    // Changes after the sync that land together are one change too.
    h.k8s.remove(
      'networkPolicies',
      ...Array.from({ length: 100 }, (_, i) => np(`p${i}`, '', '', `ns${i % 7}`)),
    );
    await eventually(() => rules(h).length === 400);
    expect(revision(h)).toBe(rev + 2);
  });

  it('does nothing in embedded mode', async () => {
    const h = await start(undefined, false);
    h.k8s.upsert('networkPolicies', np('a', 'db', 'web'));
    h.k8s.setSynced();
    // A rule imported afterwards is applied: the cell is running; the object never is.
    await call(
      h,
      'PUT',
      '/policy',
      JSON.stringify([{ endpointSelector: {}, labels: ['api=yes'] }]),
    );
    expect(rules(h)).toEqual(['unspec:api=yes']);
    expect(syncHealth(h)).toBeUndefined();
  });
});
