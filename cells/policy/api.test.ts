// The policy API against hostile input: every refusal a 400 that names what was wrong, nothing
// stored changes, and what is acknowledged always loads again.
import { rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { call, epHive, type EpHive } from '../endpoint/fixtures.js';
import { trace } from './api.js';
import { Policy, policyCell } from './index.js';

const hives: EpHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) await h.requireStop();
});

async function start(dir?: string): Promise<EpHive> {
  const h = epHive(dir, { extra: [policyCell] });
  hives.push(h);
  await h.requireStart();
  return h;
}

const rule = (name: string) =>
  JSON.stringify([{ endpointSelector: { matchLabels: { app: name } }, labels: [`name=${name}`] }]);

async function unchanged(h: EpHive, revision: number): Promise<void> {
  const got = await call(h, 'GET', '/policy');
  expect(got.body.revision).toBe(revision);
  expect(JSON.parse(String(got.body.policy))).toHaveLength(1);
}

describe('policy API refusals', () => {
  it('refuses YAML aliases, deep nesting, blank labels and oversized traces, changing nothing', async () => {
    const h = await start();
    expect((await call(h, 'PUT', '/policy', rule('a'))).status).toBe(200);
    const alias = '- endpointSelector: &s {matchLabels: {app: a}}\n- endpointSelector: *s\n';
    const a = await call(h, 'PUT', '/policy', alias);
    expect(a.status).toBe(400);
    expect(a.body as unknown as string).toMatch(/alias/i);
    const deep = await call(h, 'PUT', '/policy', `${'['.repeat(20000)}${']'.repeat(20000)}`);
    expect(deep).toEqual({
      status: 400,
      body: 'invalid policy in the body: it is nested too deeply',
    });
    const blank = await call(h, 'DELETE', '/policy', ['  ']);
    expect(blank).toEqual({ status: 400, body: 'label 0 of the body is blank' });
    // (GET with a body, as Cilium's CLI sends it, through the function the route calls.)
    const labels = Array.from({ length: 300 }, (_, i) => `k8s:l${i}=v`);
    const policy = h.get(Policy);
    expect(() =>
      trace(
        { repo: policy.repo, mode: policy.mode, allowLocalhost: true },
        { from: { labels }, to: { labels: ['k8s:app=a'] } },
      ),
    ).toThrow(/at most 256 labels/);
    await unchanged(h, 2);
  });

  it('refuses what would not load again at restart', async () => {
    const h = await start();
    expect((await call(h, 'PUT', '/policy', rule('a'))).status).toBe(200);
    // toCIDR and toCIDRSet are stored as one toCIDRSet: 1,200 entries would not load.
    const cidrs = Array.from({ length: 600 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const big = JSON.stringify([
      {
        endpointSelector: {},
        egress: [
          {
            toCIDR: cidrs,
            toCIDRSet: cidrs.map((c) => ({ cidr: c.replace(/^10\./, '11.') })),
          },
        ],
      },
    ]);
    const r = await call(h, 'PUT', '/policy', big);
    expect(r.status).toBe(400);
    expect(r.body as unknown as string).toMatch(/stored form would not load again.*toCIDRSet/);
    await unchanged(h, 2);
  });

  it('a dangling symlink in place of the state file is a state it cannot use, not "no policy"', async () => {
    const first = await start();
    expect((await call(first, 'PUT', '/policy', rule('a'))).status).toBe(200);
    await first.requireStop();
    hives.splice(0);
    const file = join(first.dir, 'state', 'policy', 'rules.json');
    rmSync(file);
    symlinkSync('/nonexistent-cellium-rules', file);
    const again = await start(first.dir);
    for (const [method, body] of [
      ['GET', undefined],
      ['PUT', rule('b')],
    ] as const) {
      const r = await call(again, method, '/policy', body);
      expect(r.status).toBe(500);
      expect(r.body as unknown as string).toMatch(/rules\.json/);
    }
  });
});
