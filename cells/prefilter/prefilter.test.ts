import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthTree } from '../../core/hive/index.js';
import { apiRequest } from '../../core/testing/api.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { Maps, mapsCell } from '../maps/index.js';
import { parseDenyCidr } from './cidr.js';
import { prefilterCell } from './index.js';

beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

interface Dirs {
  readonly state: string;
  readonly bpf: string;
  readonly sock: string;
}

function dirs(): Dirs {
  const d = mkdtempSync(join(tmpdir(), 'cellium-prefilter-'));
  return { state: join(d, 'state'), bpf: join(d, 'bpf'), sock: d };
}

/** A hive with the prefilter on a (pretend) device, on in-memory maps. */
function hive(d: Dirs, flags: Record<string, unknown> = {}) {
  return testHive([apiCell, daemonCell, mapsCell, prefilterCell], {
    flags: {
      'socket-path': join(d.sock, `api-${randomBytes(4).toString('hex')}.sock`),
      'state-dir': d.state,
      'bpf-backend': 'memory',
      'bpf-root': d.bpf,
      'prefilter-device': 'eth-test',
      ...flags,
    },
  });
}

type H = ReturnType<typeof hive>;
interface Model {
  spec: { revision: number; deny: string[] };
  status: { realized: { revision: number; deny: string[] } };
}

function call(h: H, method: string, body?: unknown) {
  return apiRequest(h.get(ApiServer).app, method, '/prefilter', body === undefined ? {} : { body });
}

async function list(h: H): Promise<Model['spec']> {
  const r = await call(h, 'GET');
  expect(r.status).toBe(200);
  const m = r.body as Model;
  expect(m.status.realized).toEqual(m.spec);
  return m.spec;
}

/** What the deny maps hold, as `map list` sees them. */
function mapKeys(h: H): string[] {
  const out: string[] = [];
  for (const name of ['cellium_cidr_v4_dyn', 'cellium_cidr_v6_dyn']) {
    const m = h.get(Maps).get(name);
    if (!m) throw new Error(`${name} is not registered`);
    for (const [k] of m.entries()) {
      const key = k as { prefixlen: number; addr: string | Buffer };
      out.push(
        `${typeof key.addr === 'string' ? key.addr : key.addr.toString('hex')}/${key.prefixlen}`,
      );
    }
  }
  return out.sort();
}

describe('deny CIDRs', () => {
  it('clears host bits, as Cilium (Go net.ParseCIDR) does', () => {
    expect(parseDenyCidr('10.1.2.3/8')).toMatchObject({ text: '10.0.0.0/8', bits: 8 });
    expect(parseDenyCidr('192.168.1.7/32')).toMatchObject({ text: '192.168.1.7/32' });
    expect(parseDenyCidr('FD00:0:0::1/64')).toMatchObject({ text: 'fd00::/64', family: 'ipv6' });
    expect(parseDenyCidr('1.2.3.4/0')).toMatchObject({ text: '0.0.0.0/0' });
  });

  it.each([
    ['10.0.0.1', 'no /prefix-length'],
    ['10.0.0.0/33', 'prefix length must be 0 to 32'],
    ['fd00::/129', 'prefix length must be 0 to 128'],
    ['10.0.0.0/08', 'prefix length'],
    ['10.0.0.0/-1', 'prefix length'],
    ['10.0.0.0/', 'prefix length'],
    ['10.0.0.256/24', 'is not an IP address'],
    [' 10.0.0.0/24', 'is not an IP address'],
    ['fe80::1%eth0/64', 'is not an IP address'],
    ['', 'no /prefix-length'],
    ['::ffff:10.0.0.1/128', 'IPv4-mapped'],
    ['::ffff:0:0/96', 'IPv4-mapped'],
  ])('refuses %j (%s)', (raw, why) => {
    const p = parseDenyCidr(raw);
    expect(p).toHaveProperty('problem');
    expect((p as { problem: string }).problem).toContain(why);
    expect((p as { problem: string }).problem).toContain(JSON.stringify(raw));
  });
});

describe('prefilter cell (in-memory maps)', () => {
  it('answers 501 saying how to turn it on while --prefilter-device is empty', async () => {
    const d = dirs();
    const h = await hive(d, { 'prefilter-device': '' }).requireStart();
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { deny: ['10.0.0.0/8'] }],
      ['DELETE', { deny: ['10.0.0.0/8'] }],
    ] as const) {
      const r = await call(h, method, body);
      expect(r.status, method).toBe(501);
      expect(r.body).toContain('--prefilter-device');
    }
    expect(h.get(Maps).get('cellium_cidr_v4_dyn')).toBeUndefined();
  });

  it('adds, deduplicates and canonicalizes; each change bumps the revision', async () => {
    const h = await hive(dirs()).requireStart();
    expect(await list(h)).toEqual({ revision: 1, deny: [] });
    const r = await call(h, 'PATCH', {
      deny: ['fd00::1/64', '10.1.2.3/8', '10.0.0.0/8', '192.168.0.5/32'],
    });
    expect(r.status).toBe(200);
    expect((r.body as Model).spec).toEqual({
      revision: 2,
      deny: ['10.0.0.0/8', '192.168.0.5/32', 'fd00::/64'],
    });
    expect(mapKeys(h)).toEqual([
      '10.0.0.0/8',
      '192.168.0.5/32',
      'fd000000000000000000000000000000/64',
    ]);
    // An already listed CIDR is fine and listed once; the revision still moves (as Cilium's).
    const again = await call(h, 'PATCH', { deny: ['10.9.9.9/8'], revision: 2 });
    expect((again.body as Model).spec).toEqual({
      revision: 3,
      deny: ['10.0.0.0/8', '192.168.0.5/32', 'fd00::/64'],
    });
    expect(mapKeys(h)).toHaveLength(3);
  });

  it('refuses a CIDR that is not one with 461 naming it, and changes nothing', async () => {
    const h = await hive(dirs()).requireStart();
    await call(h, 'PATCH', { deny: ['10.0.0.0/8'] });
    for (const method of ['PATCH', 'DELETE']) {
      const r = await call(h, method, { deny: ['10.0.0.0/8', '300.1.1.1/8', '11.0.0.0/8'] });
      expect(r.status, method).toBe(461);
      expect(r.body).toContain('"300.1.1.1/8"');
      expect(r.body).toContain('deny[1]: invalid CIDR');
    }
    expect(await list(h)).toEqual({ revision: 2, deny: ['10.0.0.0/8'] });
    expect(mapKeys(h)).toEqual(['10.0.0.0/8']);
  });

  it('refuses a stale revision naming both revisions (409; Cilium: 500); 0 means any', async () => {
    const h = await hive(dirs()).requireStart();
    await call(h, 'PATCH', { deny: ['10.0.0.0/8'], revision: 1 });
    for (const method of ['PATCH', 'DELETE']) {
      const r = await call(h, method, { deny: ['10.0.0.0/8'], revision: 1 });
      expect(r.status, method).toBe(409);
      expect(r.body).toMatch(/revision 2, not 1/);
    }
    expect(await list(h)).toEqual({ revision: 2, deny: ['10.0.0.0/8'] });
    const any = await call(h, 'PATCH', { deny: ['11.0.0.0/8'], revision: 0 });
    expect((any.body as Model).spec.revision).toBe(3);
  });

  it('deletes listed CIDRs and refuses, changing nothing, when one is not listed', async () => {
    const h = await hive(dirs()).requireStart();
    await call(h, 'PATCH', { deny: ['10.0.0.0/8', '2001:db8::/32'] });
    const bad = await call(h, 'DELETE', { deny: ['10.0.0.0/8', '12.0.0.0/8'] });
    expect(bad.status).toBe(404);
    expect(bad.body).toContain('12.0.0.0/8 is not in the deny list');
    expect(mapKeys(h)).toHaveLength(2);
    const ok = await call(h, 'DELETE', { deny: ['10.7.0.0/8', '2001:db8::/32'], revision: 2 });
    expect(ok.status).toBe(200);
    expect((ok.body as Model).spec).toEqual({ revision: 3, deny: [] });
    expect(mapKeys(h)).toEqual([]);
  });

  it('refuses a change that names no CIDR (it would only bump the revision)', async () => {
    const h = await hive(dirs()).requireStart();
    for (const [method, body] of [
      ['PATCH', {}],
      ['PATCH', { deny: [] }],
      ['DELETE', { revision: 1 }],
    ] as const) {
      const r = await call(h, method, body);
      expect(r.status, `${method} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body).toContain('deny: name at least one CIDR');
    }
    expect(await list(h)).toEqual({ revision: 1, deny: [] });
  });

  it('refuses more CIDRs than --prefilter-map-max names, changing nothing', async () => {
    const h = await hive(dirs(), { 'prefilter-map-max': 2 }).requireStart();
    await call(h, 'PATCH', { deny: ['10.0.0.0/8', 'fd00::/8'] });
    const r = await call(h, 'PATCH', { deny: ['11.0.0.0/8', '12.0.0.0/8'] });
    expect(r.status).toBe(400);
    expect(r.body).toContain('--prefilter-map-max=2');
    expect(await list(h)).toEqual({ revision: 2, deny: ['10.0.0.0/8', 'fd00::/8'] });
  });

  it('acknowledges nothing it could not save: the maps are put back', async () => {
    const d = dirs();
    const h = await hive(d).requireStart();
    await call(h, 'PATCH', { deny: ['10.0.0.0/8'] });
    // A directory where the state file goes: the atomic rename over it fails.
    rmSync(join(d.state, 'prefilter.json'));
    mkdirSync(join(d.state, 'prefilter.json', 'x'), { recursive: true });
    const r = await call(h, 'PATCH', { deny: ['11.0.0.0/8'] });
    expect(r.status).toBe(500);
    expect(r.body).toMatch(/cannot save the deny list.*nothing was changed/);
    expect(await list(h)).toEqual({ revision: 2, deny: ['10.0.0.0/8'] });
    expect(mapKeys(h)).toEqual(['10.0.0.0/8']);
  });

  it("keeps a kernel run's attachment recorded when it runs on in-memory maps", async () => {
    const d = dirs();
    mkdirSync(d.state, { recursive: true });
    const attached = { device: 'eth-test', ifindex: 7, mode: 'native', progId: 42 };
    writeFileSync(
      join(d.state, 'prefilter.json'),
      JSON.stringify({ revision: 3, deny: ['10.0.0.0/8'], attached }),
    );
    const h = await hive(d).requireStart();
    await call(h, 'PATCH', { deny: ['11.0.0.0/8'] });
    const saved = JSON.parse(readFileSync(join(d.state, 'prefilter.json'), 'utf8')) as {
      revision: number;
      attached?: unknown;
    };
    expect(saved.revision).toBe(4);
    expect(saved.attached).toEqual(attached);
  });

  it('keeps the list and revision across a restart, even on fresh maps', async () => {
    const d = dirs();
    const h1 = await hive(d).requireStart();
    await call(h1, 'PATCH', { deny: ['10.0.0.0/8', 'fd00::/16'] });
    await call(h1, 'DELETE', { deny: ['fd00::/16'] });
    await h1.requireStop();
    expect(JSON.parse(readFileSync(join(d.state, 'prefilter.json'), 'utf8'))).toMatchObject({
      revision: 3,
      deny: ['10.0.0.0/8'],
    });
    // The same pins (maps kept their entries), then a fresh bpf root (maps rebuilt from disk).
    for (const bpf of [d.bpf, join(d.sock, 'bpf2')]) {
      const h2 = await hive({ ...d, bpf }).requireStart();
      expect(await list(h2)).toEqual({ revision: 3, deny: ['10.0.0.0/8'] });
      expect(mapKeys(h2)).toEqual(['10.0.0.0/8']);
      await h2.requireStop();
    }
  });

  it('brings pinned maps in line with the saved list (drops what was never acknowledged)', async () => {
    const d = dirs();
    const h1 = await hive(d).requireStart();
    await call(h1, 'PATCH', { deny: ['10.0.0.0/8'] });
    await h1.requireStop();
    writeFileSync(
      join(d.state, 'prefilter.json'),
      JSON.stringify({ revision: 7, deny: ['11.0.0.0/8'] }),
    );
    const h2 = await hive(d).requireStart();
    expect(await list(h2)).toEqual({ revision: 7, deny: ['11.0.0.0/8'] });
    expect(mapKeys(h2)).toEqual(['11.0.0.0/8']);
  });

  it('keeps an invalid state file aside and takes the list from the pinned maps', async () => {
    const d = dirs();
    const h1 = await hive(d).requireStart();
    await call(h1, 'PATCH', { deny: ['10.0.0.0/8'] });
    await h1.requireStop();
    writeFileSync(join(d.state, 'prefilter.json'), '{"revision": "x"');
    const h2 = await hive(d).requireStart();
    expect(await list(h2)).toEqual({ revision: 1, deny: ['10.0.0.0/8'] });
    const aside = readdirSync(d.state).filter((f) => f.startsWith('prefilter.json.invalid-'));
    expect(aside).toHaveLength(1);
    const health = JSON.stringify(h2.get(HealthTree).tree());
    expect(health).toContain('kept aside');
  });

  it('keeps a FIFO planted as the state file aside instead of blocking on it', async () => {
    const d = dirs();
    mkdirSync(d.state, { recursive: true });
    execFileSync('mkfifo', [join(d.state, 'prefilter.json')]);
    const h = await hive(d).requireStart();
    expect(await list(h)).toEqual({ revision: 1, deny: [] });
    expect(JSON.stringify(h.get(HealthTree).tree())).toContain('not a regular file');
  });
});
