import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HealthTree, type HealthStatus } from '../../core/hive/index.js';
import { kernelSuite } from '../../core/testing/kernel.js';
import { freePort } from '../../core/testing/ports.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { startEtcd } from '../../test/support/etcd.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { etcdTarget, parseKvstoreOpts } from './config.js';
import { KVStore, KVStoreDisabledError, kvstoreCell } from './index.js';

function hive(flags: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-kvstore-'));
  return testHive([apiCell, daemonCell, kvstoreCell], {
    flags: { 'node-name': 'node1', 'socket-path': join(dir, 'api.sock'), ...flags },
  });
}

async function get(h: ReturnType<typeof hive>, path: string): Promise<Record<string, unknown>> {
  const res = await h.get(ApiServer).app.request(`/v1${path}`);
  return (await res.json()) as Record<string, unknown>;
}

function kvstoreHealth(h: ReturnType<typeof hive>): HealthStatus | undefined {
  return h
    .get(HealthTree)
    .all()
    .find((s) => s.id === 'kvstore' || s.id.endsWith('.kvstore'));
}

function file(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cellium-kvstore-')), name);
  writeFileSync(path, text);
  return path;
}

describe('kvstore cell', () => {
  it('is disabled without --kvstore: calls throw, status Disabled', async () => {
    const h = await hive().requireStart();
    const kv = h.get(KVStore);
    expect(kv.enabled).toBe(false);
    expect(kv.status()).toEqual({ state: 'Disabled', msg: 'Disabled' });
    await expect(kv.get('a')).rejects.toBeInstanceOf(KVStoreDisabledError);
    await expect(kv.put('a', 'b', { lease: true })).rejects.toThrow(/no kvstore configured/);
    expect(() => kv.watch('a', { onEvent: () => undefined })).toThrow(KVStoreDisabledError);
    expect((await get(h, '/healthz')).kvstore).toMatchObject({ state: 'Disabled' });
  });

  it.each([
    [{ kvstore: 'consul' }, /kvstore.*unknown kvstore backend 'consul'/s],
    [
      { kvstore: 'etcd', 'kvstore-opt': 'etcd.adress=http://127.0.0.1:2379' },
      /kvstore-opt.*unknown option 'etcd.adress'/s,
    ],
    [{ kvstore: 'etcd', 'kvstore-opt': 'etcd.address=127.0.0.1:2379' }, /not a URL|http/],
    [{ kvstore: 'etcd' }, /--kvstore etcd needs etcd.address=<url> or etcd.config=<file>/],
    [
      { kvstore: 'etcd', 'kvstore-opt': 'etcd.config=/nonexistent/etcd.yaml' },
      /etcd.config=\/nonexistent\/etcd.yaml: ENOENT/,
    ],
    [{ kvstore: 'etcd', 'kvstore-lease-ttl': '1s' }, /kvstore-lease-ttl/],
  ])('rejects bad flags %j', async (flags, message) => {
    await expect(async () => {
      const h = hive(flags);
      h.get(KVStore);
      await h.requireStart();
    }).rejects.toThrow(message);
  });

  it('parses --kvstore-opt as Cilium does: k=v pairs, a list of addresses, or JSON', () => {
    expect(parseKvstoreOpts('etcd.address=http://a:2379,http://b:2379')).toEqual({
      'etcd.address': 'http://a:2379,http://b:2379',
    });
    expect(parseKvstoreOpts('{"etcd.config": "/etc/etcd.yaml"}')).toEqual({
      'etcd.config': '/etc/etcd.yaml',
    });
    expect(etcdTarget('etcd.address=http://a:2379, http://b:2379')).toEqual({
      endpoints: ['http://a:2379', 'http://b:2379'],
    });
    expect(() => parseKvstoreOpts('etcd.address=http://a:2379,x=1,y=2')).toThrow(
      "unknown options 'x', 'y'",
    );
  });

  it('reads etcd.config: endpoints and TLS files; unknown keys and bad YAML are errors', () => {
    const ca = file('ca.pem', 'CA');
    const ok = file(
      'etcd.yaml',
      `endpoints:\n  - https://10.0.0.1:2379\n  - https://10.0.0.2:2379\ntrusted-ca-file: ${ca}\n`,
    );
    const t = etcdTarget(`etcd.config=${ok}`);
    expect(t.endpoints).toEqual(['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(t.tls?.ca?.toString()).toBe('CA');
    const unknown = file('u.yaml', 'endpoints: [http://a:2379]\nca-path: /x\n');
    expect(() => etcdTarget(`etcd.config=${unknown}`)).toThrow(/unknown key\(s\) ca-path/);
    const bad = file('b.yaml', 'endpoints: [http://a:2379\n');
    expect(() => etcdTarget(`etcd.config=${bad}`)).toThrow(/--kvstore-opt: etcd.config=.*b.yaml/);
    const none = file('n.yaml', 'trusted-ca-file: /x\n');
    expect(() => etcdTarget(`etcd.config=${none}`)).toThrow(/endpoints must be a non-empty list/);
    const missingCa = file('m.yaml', 'endpoints: [http://a:2379]\ntrusted-ca-file: /nope/ca\n');
    expect(() => etcdTarget(`etcd.config=${missingCa}`)).toThrow(/trusted-ca-file: ENOENT/);
  });
});

kernelSuite('kvstore cell with a real etcd', { root: false, commands: ['etcd'] }, () => {
  it('starts with etcd down (degraded, Failure), then is Ok once etcd appears', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const h = await hive({
      kvstore: 'etcd',
      'kvstore-opt': `etcd.address=${endpoint}`,
      'kvstore-lease-ttl': '5s',
    }).requireStart();
    const kv = h.get(KVStore);
    expect(kv.enabled).toBe(true);
    await eventually(() => kv.status().state === 'Failure');
    expect(kvstoreHealth(h)?.level).toBe('degraded');
    expect(kvstoreHealth(h)?.message).toContain(endpoint);
    expect((await get(h, '/healthz')).kvstore).toMatchObject({ state: 'Failure' });
    const waiting = kv.put('cellium/test/cell', 'v', { lease: true });
    await startEtcd({ port });
    await waiting;
    await eventually(() => kv.status().state === 'Ok', 30_000);
    expect(kvstoreHealth(h)?.level).toBe('ok');
    const healthz = await get(h, '/healthz');
    expect(healthz.kvstore).toEqual(kv.status());
    expect(kv.status().msg).toMatch(
      new RegExp(
        `^etcd: 1/1 connected, lease-ID=[0-9a-f]+, has-quorum=true: ${endpoint} - 3\\.4\\.\\d+$`,
      ),
    );
    const config = (await get(h, '/config')) as { status: Record<string, unknown> };
    expect(config.status.kvstoreConfiguration).toEqual({
      type: 'etcd',
      options: { 'etcd.address': endpoint },
    });
    expect(await kv.get('cellium/test/cell')).toBe('v');
  });
});
