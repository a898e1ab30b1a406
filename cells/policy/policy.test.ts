// The policy cell in a hive with the endpoint cell, on the in-memory maps: rules imported through
// the API become entries of each endpoint's cellium_policy_<id>, only what changes is written,
// and revisions reach endpoints so `policy wait` works.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../core/testing/test-hive.js';
import { call, epHive, request, type EpHive } from '../endpoint/fixtures.js';
import { PolicyMaps, POLICY_F } from '../policymap/index.js';
import { policyCell } from './index.js';

const hives: EpHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) await h.requireStop();
});

async function start(flags: Record<string, unknown> = {}, dir?: string): Promise<EpHive> {
  const h = epHive(dir, { extra: [policyCell], flags });
  hives.push(h);
  await h.requireStart();
  return h;
}

async function endpoint(h: EpHive, n: number, app: string): Promise<number> {
  const r = await call(h, 'PUT', '/endpoint/0', { ...request(n), labels: [`k8s:app=${app}`] });
  expect(r.status).toBe(201);
  return (r.body as unknown as { id: number }).id;
}

function entries(h: EpHive, id: number): string[] {
  const m = h.get(PolicyMaps).endpointMap(id);
  return [...m.entries()]
    .map(
      ([k, v]) =>
        `${k.sec_label}/${k.egress ? 'eg' : 'in'}/${k.protocol}/${k.dport}/${k.prefixlen}${v.flags & POLICY_F.DENY ? ' deny' : ''}`,
    )
    .sort();
}

async function realized(h: EpHive, id: number): Promise<number> {
  const ep = (await call(h, 'GET', `/endpoint/${id}`)).body as {
    status: { policy: { realized: { 'policy-revision': number } } };
  };
  return ep.status.policy.realized['policy-revision'];
}

const backendRule = JSON.stringify([
  {
    endpointSelector: { matchLabels: { app: 'backend' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
        toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
      },
    ],
    labels: ['name=fe-to-be'],
  },
]);

describe('policy cell', () => {
  it('imports a rule: the selected endpoint enforces ingress, the others stay open', async () => {
    const h = await start();
    const fe = await endpoint(h, 1, 'frontend');
    const be = await endpoint(h, 2, 'backend');
    await eventually(async () => (await realized(h, be)) === 1);
    expect(entries(h, be)).toEqual(['0/eg/0/0/40', '0/in/0/0/40']);

    const put = await call(h, 'PUT', '/policy', backendRule);
    expect(put.status).toBe(200);
    expect(put.body.revision).toBe(2);
    await eventually(async () => (await realized(h, be)) === 2 && (await realized(h, fe)) === 2);
    const feId = (
      (await call(h, 'GET', `/endpoint/${fe}`)).body as { status: { identity: { id: number } } }
    ).status.identity.id;
    // Ingress: the frontend's identity on TCP 80, and the host (allow-localhost); egress open.
    expect(entries(h, be)).toEqual([`0/eg/0/0/40`, `1/in/0/0/40`, `${feId}/in/6/80/64`].sort());
    expect(entries(h, fe)).toEqual(['0/eg/0/0/40', '0/in/0/0/40']);
    const ep = (await call(h, 'GET', `/endpoint/${be}`)).body as {
      status: { policy: { realized: Record<string, unknown> } };
    };
    expect(ep.status.policy.realized['policy-enabled']).toBe('ingress');
    expect(ep.status.policy.realized['allowed-ingress-identities']).toEqual([1, feId]);

    const del = await call(h, 'DELETE', '/policy', ['name=fe-to-be']);
    expect(del.status).toBe(200);
    await eventually(async () => (await realized(h, be)) === 3);
    expect(entries(h, be)).toEqual(['0/eg/0/0/40', '0/in/0/0/40']);
  });

  it('refuses an invalid rule whole, naming it, and keeps what was imported', async () => {
    const h = await start();
    expect((await call(h, 'PUT', '/policy', backendRule)).status).toBe(200);
    const bad = JSON.stringify([
      (JSON.parse(backendRule) as unknown[])[0],
      { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: '99999' }] }] }] },
    ]);
    const r = await call(h, 'PUT', '/policy', bad);
    expect(r.status).toBe(400);
    expect(r.body as unknown as string).toMatch(
      /rule 1.*ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port/,
    );
    // Host policies are refused, not stored as if they protected the node.
    const host = await call(
      h,
      'PUT',
      '/policy',
      JSON.stringify([{ nodeSelector: {}, ingress: [{ fromEntities: ['world'] }] }]),
    );
    expect(host.status).toBe(400);
    expect(host.body as unknown as string).toMatch(
      /rule 0: nodeSelector: host policies are not enforced/,
    );
    const got = await call(h, 'GET', '/policy');
    expect(got.body.revision).toBe(2);
    expect(JSON.parse(String(got.body.policy))).toHaveLength(1);
  });

  it('writes only the difference, and realizes unaffected endpoints at the new revision at once', async () => {
    const h = await start();
    await endpoint(h, 3, 'frontend');
    const be = await endpoint(h, 1, 'backend');
    const other = await endpoint(h, 2, 'other');
    await call(h, 'PUT', '/policy', backendRule);
    await eventually(async () => (await realized(h, be)) === 2);
    const m = h.get(PolicyMaps).endpointMap(be).enableEvents(100);
    const o = h.get(PolicyMaps).endpointMap(other).enableEvents(100);
    // Port 80 becomes 80-81: one entry replaced by another block; nothing else is touched.
    const wider = backendRule.replace(
      '{"port":"80","protocol":"TCP"}',
      '{"port":"80","endPort":81,"protocol":"TCP"}',
    );
    expect((await call(h, 'PUT', `/policy?replace=true`, wider)).body.revision).toBe(3);
    await eventually(async () => (await realized(h, be)) === 3);
    expect(m.recentEvents().map((e) => `${e.action} ${e.key.dport}/${e.key.prefixlen}`)).toEqual([
      // Allows that go are deleted before new allows are written (never more open on the way).
      'delete 80/64',
      'update 80/63',
    ]);
    expect(await realized(h, other)).toBe(3);
    expect(o.recentEvents()).toEqual([]);
  });

  it('keeps the previous map when the new policy does not fit, and says so', async () => {
    const h = await start({ 'bpf-policy-map-max': 16 });
    const be = await endpoint(h, 1, 'backend');
    await call(h, 'PUT', '/policy', backendRule);
    await eventually(async () => (await realized(h, be)) === 2);
    const before = entries(h, be);
    const many = JSON.stringify([
      {
        endpointSelector: { matchLabels: { app: 'backend' } },
        ingress: [
          {
            toPorts: [
              {
                ports: Array.from({ length: 20 }, (_, i) => ({
                  port: String(1000 + i * 7),
                  protocol: 'TCP',
                })),
              },
            ],
          },
        ],
        labels: ['name=many'],
      },
    ]);
    expect((await call(h, 'PUT', '/policy', many)).status).toBe(200);
    const health = async () =>
      ((await call(h, 'GET', `/endpoint/${be}/healthz`)).body as { policy: string }).policy;
    await eventually(async () => (await health()) === 'Failure');
    const hz = (await call(h, 'GET', `/endpoint/${be}/healthz`)).body as { overallHealth: string };
    expect(hz.overallHealth).toBe('Failure');
    expect(entries(h, be)).toEqual(before);
    expect(await realized(h, be)).toBe(2);
    // Fixed by removing the rule: the endpoint catches up.
    await call(h, 'DELETE', '/policy', ['name=many']);
    await eventually(async () => (await health()) === 'OK' && (await realized(h, be)) === 4);
    expect(entries(h, be)).toEqual(before);
  });

  it('after a restart: rules and CIDR identities come back, and nothing that is right is rewritten', async () => {
    const first = await start();
    const be = await endpoint(first, 1, 'backend');
    const cidr = JSON.stringify([
      {
        endpointSelector: { matchLabels: { app: 'backend' } },
        egress: [{ toCIDRSet: [{ cidr: '198.51.100.0/24', except: ['198.51.100.128/25'] }] }],
        labels: ['name=cidr'],
      },
    ]);
    await call(first, 'PUT', '/policy', backendRule);
    await call(first, 'PUT', '/policy', cidr);
    await eventually(async () => (await realized(first, be)) === 3);
    const before = entries(first, be);
    const ip = async (h: EpHive) =>
      (
        (await call(h, 'GET', '/ip?cidr=198.51.100.0/24')).body as unknown as { identity: number }[]
      ).map((e) => e.identity);
    const ids = await ip(first);
    expect(ids.length).toBe(2);
    await first.requireStop();
    hives.splice(hives.indexOf(first), 1);
    const again = await start({}, first.dir);
    await eventually(async () => (await realized(again, be)) === 3);
    expect(entries(again, be)).toEqual(before);
    expect((await ip(again)).sort()).toEqual([...ids].sort());
    const got = await call(again, 'GET', '/policy');
    expect(got.body.revision).toBe(3);
  });

  it('a state file it cannot use: nothing is rewritten, writes are refused naming the file', async () => {
    const first = await start();
    const be = await endpoint(first, 1, 'backend');
    await call(first, 'PUT', '/policy', backendRule);
    await eventually(async () => (await realized(first, be)) === 2);
    const before = entries(first, be);
    await first.requireStop();
    hives.splice(hives.indexOf(first), 1);
    writeFileSync(
      join(first.dir, 'state', 'policy', 'rules.json'),
      '{"version": 1, "revision": "x"',
    );
    const again = await start({}, first.dir);
    const put = await call(again, 'PUT', '/policy', backendRule);
    expect(put.status).toBe(500);
    expect(put.body as unknown as string).toMatch(/rules\.json/);
    expect(entries(again, be)).toEqual(before);
  });

  it('follows --policy-enforcement changed at runtime: always, never, default', async () => {
    const h = await start();
    const fe = await endpoint(h, 1, 'frontend');
    const be = await endpoint(h, 2, 'backend');
    await call(h, 'PUT', '/policy', backendRule);
    await eventually(async () => (await realized(h, be)) === 2);
    const patch = (mode: string) =>
      call(h, 'PATCH', '/config', { 'policy-enforcement': mode }).then((r) => r.status);
    expect(await patch('always')).toBe(200);
    await eventually(() => entries(h, fe).join() === '1/in/0/0/40');
    expect(await patch('never')).toBe(200);
    await eventually(() => entries(h, be).join() === '0/eg/0/0/40,0/in/0/0/40');
    expect(entries(h, fe)).toEqual(['0/eg/0/0/40', '0/in/0/0/40']);
    expect(await patch('default')).toBe(200);
    await eventually(() => entries(h, be).length === 3 && entries(h, fe).length === 2);
  });

  it('a rule naming a new prefix updates what other rules with wider CIDRs select', async () => {
    const h = await start();
    const be = await endpoint(h, 1, 'backend');
    const wide = JSON.stringify([
      {
        endpointSelector: { matchLabels: { app: 'backend' } },
        egress: [{ toCIDR: ['10.0.0.0/8'] }],
        labels: ['name=wide'],
      },
    ]);
    await call(h, 'PUT', '/policy', wide);
    await eventually(async () => (await realized(h, be)) === 2);
    const ids = async () =>
      (await call(h, 'GET', '/ip?cidr=10.0.0.0/8')).body as unknown as {
        cidr: string;
        identity: number;
      }[];
    const outer = (await ids()).find((e) => e.cidr === '10.0.0.0/8')?.identity ?? 0;
    expect(entries(h, be)).toContain(`${outer}/eg/0/0/40`);
    // Another endpoint's rule carves 10.1.0.0/16 out: addresses there now have its identity,
    // which the backend's 10.0.0.0/8 must select too.
    await call(
      h,
      'PUT',
      '/policy',
      JSON.stringify([
        {
          endpointSelector: { matchLabels: { app: 'other' } },
          egress: [{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['10.1.0.0/16'] }] }],
          labels: ['name=carve'],
        },
      ]),
    );
    await eventually(async () => (await realized(h, be)) === 3);
    const hole = (await ids()).find((e) => e.cidr === '10.1.0.0/16')?.identity ?? 0;
    expect(hole).toBeGreaterThanOrEqual(1 << 24);
    expect(entries(h, be)).toContain(`${hole}/eg/0/0/40`);
    // No identity for 0.0.0.0/0: that is the world identity.
    const all = (await call(h, 'GET', '/ip')).body as unknown as { cidr: string }[];
    expect(all.map((e) => e.cidr)).toContain('10.1.0.0/16');
    expect(all.map((e) => e.cidr)).not.toContain('0.0.0.0/0');
  });

  it("an identity number reused for other labels gets their policy, not its old holder's", async () => {
    const h = await start();
    await call(
      h,
      'PUT',
      '/policy',
      JSON.stringify([
        {
          endpointSelector: { matchLabels: { app: 'z' } },
          egress: [{ toEndpoints: [{ matchLabels: { app: 'q' } }] }],
        },
        {
          endpointSelector: { matchLabels: { app: 'q' } },
          ingress: [{ fromEndpoints: [{ matchLabels: { app: 'x' } }] }],
        },
      ]),
    );
    const x = await endpoint(h, 1, 'x');
    await eventually(async () => (await realized(h, x)) === 2);
    expect((await call(h, 'DELETE', `/endpoint/${x}`)).status).toBe(200);
    await eventually(() => !h.get(PolicyMaps).pinned().includes(x));
    const z = await endpoint(h, 2, 'z');
    await eventually(async () => (await realized(h, z)) === 2);
    // z enforces egress (only app=q, of which there is none): nothing but the host in.
    expect(entries(h, z)).toEqual(['0/in/0/0/40']);
  });
});
