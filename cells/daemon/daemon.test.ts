import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health, HiveConfig, invoke, module } from '../../core/hive/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell, StatusContributors } from './index.js';

// Every reply in these tests is checked against the spec.
beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

const flaky = module(
  'flaky',
  'A cell that reports itself degraded',
  invoke('report', { h: Health }, ({ h }) => h.degraded('lost contact', new Error('ECONNREFUSED'))),
);

const contributor = module(
  'ipam',
  'Stands in for the IPAM cell',
  invoke('contribute', { c: StatusContributors }, ({ c }) =>
    c.add({
      status: (s) =>
        void (s.ipam = { allocations: { '10.0.0.5': 'default/web' }, ipv4: ['10.0.0.5'] }),
      config: (cfg) => void (cfg['ipam-mode'] = 'cluster-pool'),
    }),
  ),
);

function daemonHive(extra = [contributor]) {
  const sock = join(mkdtempSync(join(tmpdir(), 'cellium-daemon-')), 'api.sock');
  return testHive([apiCell, daemonCell, ...extra], {
    flags: { 'node-name': 'node1', 'socket-path': sock },
  });
}

async function call(h: ReturnType<typeof daemonHive>, path: string, init: RequestInit = {}) {
  const res = await h.get(ApiServer).app.request(`/v1${path}`, init);
  return {
    status: res.status,
    body: (await res.json().catch(() => undefined)) as Record<string, unknown>,
  };
}

describe('daemon cell', () => {
  it('says starting until the hive runs, then Ok with every part of StatusResponse present', async () => {
    const h = daemonHive();
    expect((await call(h, '/healthz')).body.cilium).toEqual({ state: 'Warning', msg: 'starting' });
    await h.requireStart();
    const { status, body } = await call(h, '/healthz');
    expect(status).toBe(200);
    expect(body.cilium).toMatchObject({ state: 'Ok' });
    for (const k of [
      'kvstore',
      'kubernetes',
      'container-runtime',
      'cluster',
      'ipam',
      'controllers',
      'proxy',
    ]) {
      expect(body[k], k).toBeDefined();
    }
    expect(body.cluster).toMatchObject({ self: 'default/node1' });
    expect(body.ipam).toEqual({ allocations: { '10.0.0.5': 'default/web' }, ipv4: ['10.0.0.5'] });
    const ids = (body['modules-health'] as { modules: { 'module-id': string }[] }).modules.map(
      (m) => m['module-id'],
    );
    expect(ids).toEqual(expect.arrayContaining(['api', 'daemon']));
  });

  it('answers brief with the overall state only', async () => {
    const h = daemonHive();
    await h.requireStart();
    const { body } = await call(h, '/healthz', { headers: { brief: 'true' } });
    expect(Object.keys(body)).toEqual(['cilium']);
  });

  it('turns Warning and names the degraded cell', async () => {
    const h = daemonHive([flaky]);
    await h.requireStart();
    expect((await call(h, '/healthz')).body.cilium).toEqual({
      state: 'Warning',
      msg: '1 degraded: flaky: lost contact',
    });
  });

  it('shows changeable options apart from immutable ones, with contributions', async () => {
    const h = daemonHive();
    const { body } = await call(h, '/config');
    const status = body.status as Record<string, Record<string, unknown>>;
    // Cilium's option names and values; `--debug` is Cilium's Debug, shown once.
    expect(body.spec).toEqual({ options: { Debug: 'Disabled' }, 'policy-enforcement': 'default' });
    expect(status.immutable).toMatchObject({
      'node-name': 'node1',
      mtu: '1500',
      'hive-stop-timeout': '1m',
      DropNotification: 'Enabled',
      // --monitor-aggregation's default (this hive has no monitor cell, so no flag to read).
      MonitorAggregationLevel: 'Medium',
      PolicyTracing: 'Disabled',
    });
    expect(status.immutable?.debug).toBeUndefined();
    expect(status.immutable?.Debug).toBeUndefined();
    expect(body.status).toMatchObject({
      'ipam-mode': 'cluster-pool',
      datapathMode: 'veth',
      deviceMTU: 1500,
    });
  });

  it('changes runtime options with PATCH and rejects immutable, unknown or invalid ones naming them', async () => {
    const h = daemonHive();
    const patch = (body: unknown) =>
      call(h, '/config', {
        method: 'PATCH',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
    expect(
      (await patch({ options: { debug: 'true' }, 'policy-enforcement': 'default' })).status,
    ).toBe(200);
    expect((await call(h, '/config')).body.spec).toEqual({
      options: { Debug: 'Enabled' },
      'policy-enforcement': 'default',
    });
    expect((await patch({ 'policy-enforcement': 'always' })).status).toBe(200);
    expect(h.get(HiveConfig).get('policy-enforcement')).toBe('always');
    expect(await patch({ 'policy-enforcement': 'sometimes' })).toMatchObject({ status: 400 });
    expect(h.get(HiveConfig).get('policy-enforcement')).toBe('always');
    expect((await patch({ 'policy-enforcement': 'default' })).status).toBe(200);
    expect(h.get(HiveConfig).get('debug')).toBe(true);
    expect((await patch({ options: { Debug: 'Disabled' } })).status).toBe(200);
    expect(h.get(HiveConfig).get('debug')).toBe(false);
    expect((await patch({ options: { DEBUG: '1' } })).status).toBe(200);
    expect(await patch({ options: { mtu: '9000' } })).toEqual({
      status: 400,
      body: 'option mtu: cannot be changed at runtime',
    });
    expect(await patch({ options: { 'no-such': '1' } })).toMatchObject({ status: 400 });
    expect((await patch({ options: { 'no-such': '1' } })).body).toMatch(
      /^unknown option 'no-such' \(known: ConntrackAccounting, .*Debug/,
    );
    expect(await patch({ options: { debug: 'sometimes' } })).toEqual({
      status: 400,
      body: "option Debug: invalid value 'sometimes' (accepted: true, on, enable, enabled, 1, false, off, disable, disabled, 0)",
    });
    expect(await patch({ options: { TraceNotification: 'off' } })).toMatchObject({ status: 400 });
    expect((await patch({ options: { TraceNotification: 'off' } })).body).toMatch(
      /^option TraceNotification is read-only .*while a monitor client listens/,
    );
    expect(await patch({ 'policy-enforcement': 'sometimes' })).toMatchObject({ status: 400 });
    expect(await patch({ options: { Debug: '1', debug: '0' } })).toMatchObject({ status: 400 });
    expect((await call(h, '/config')).body.spec).toEqual({
      options: { Debug: 'Enabled' },
      'policy-enforcement': 'default',
    });
  });

  it('answers /debuginfo with the version and a full status', async () => {
    const h = daemonHive();
    const { body } = await call(h, '/debuginfo');
    expect(body['cilium-version']).toMatch(/^\d+\.\d+\.\d+ node v\d+/);
    expect(body['cilium-status']).toBeDefined();
  });
});
