// The policy cell in a hive with the endpoint cell, on the in-memory maps: rules imported through
// the API become entries of each endpoint's cellium_policy_<id>, only what changes is written,
// and revisions reach endpoints so `policy wait` works.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../core/testing/test-hive.js';
import { call, epHive, request, type EpHive } from '../endpoint/fixtures.js';
import { PolicyMaps, POLICY_F } from '../policymap/index.js';
import { policyCell } from './index.js';

const hives: EpHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) await h.requireStop();
});

async function start(flags: Record<string, unknown> = {}): Promise<EpHive> {
  const h = epHive(undefined, { extra: [policyCell], flags });
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
    const got = await call(h, 'GET', '/policy');
    expect(got.body.revision).toBe(2);
    expect(JSON.parse(String(got.body.policy))).toHaveLength(1);
  });
});
