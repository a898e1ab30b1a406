import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Model } from '../../core/api/index.js';
import { Health, invoke, Jobs, module, type Cell } from '../../core/hive/index.js';
import { apiRequest } from '../../core/testing/api.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { agentHealthReply } from './agent-health.js';
import { agentHealthCell, daemonCell, StatusProbes, type StatusProbe } from './index.js';
import { freePort } from '../../core/testing/ports.js';

type StatusResponse = Model<'StatusResponse'>;

// Every reply in these tests is checked against the spec.
beforeAll(() => {
  process.env.CELLIUM_VALIDATE_RESPONSES = '1';
});
afterAll(() => {
  delete process.env.CELLIUM_VALIDATE_RESPONSES;
});

/** A test double: a cell that registers the given probes. */
function prober(probes: readonly StatusProbe<never>[]): Cell {
  return module(
    'prober',
    'Registers status probes (a test double)',
    invoke('probes', { probes: StatusProbes }, ({ probes: p }) => {
      for (const x of probes) p.add(x);
    }),
  );
}

function probe<T>(p: StatusProbe<T>): StatusProbe<never> {
  return p as unknown as StatusProbe<never>;
}

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function hive(cells: readonly Cell[], flags: Record<string, unknown> = {}) {
  const sock = join(mkdtempSync(join(tmpdir(), 'cellium-probes-')), 'api.sock');
  return testHive([apiCell, daemonCell, ...cells], {
    flags: { 'node-name': 'node1', 'socket-path': sock, ...flags },
  });
}

async function healthz(h: ReturnType<typeof hive>, brief = false): Promise<StatusResponse> {
  const r = await apiRequest(h.get(ApiServer).app, 'GET', '/healthz', {
    headers: brief ? { brief: 'true' } : {},
  });
  expect(r.status).toBe(200);
  return r.body as StatusResponse;
}

function controller(s: StatusResponse, name: string) {
  return s.controllers?.find((c) => c.name === name);
}

describe('status probes', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('names a probe that does not answer within its timeout in stale while the rest answers, and clears it when it does', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const slow = deferred<string>();
    let slowRuns = 0;
    const h = hive([
      prober([
        probe({
          name: 'kvstore',
          intervalMs: 60_000,
          timeoutMs: 5_000,
          probe: () => {
            slowRuns++;
            return slow.promise;
          },
          apply: (s, v) => void (s.kvstore = { state: 'Ok', msg: v }),
        }),
        probe({
          name: 'cni',
          intervalMs: 1_000,
          timeoutMs: 5_000,
          probe: () => 'written',
          apply: (s, v) => void (s['cni-file'] = { state: 'Ok', msg: v }),
        }),
      ]),
    ]);
    await h.requireStart();
    await vi.advanceTimersByTimeAsync(0);
    let s = await healthz(h);
    // Started, not late yet: nothing is stale; the section keeps its default until an answer.
    expect(s.stale).toEqual({});
    expect(s.cilium?.state).toBe('Ok');
    expect(s.kvstore?.state).toBe('Disabled');
    expect(s['cni-file']).toEqual({ state: 'Ok', msg: 'written' });
    const started = new Date().toISOString();

    await vi.advanceTimersByTimeAsync(4_999);
    expect((await healthz(h)).stale).toEqual({});
    await vi.advanceTimersByTimeAsync(1);
    // The probe still has not answered (its promise is pending): /healthz does not wait for it.
    s = await healthz(h);
    expect(s.stale).toEqual({ kvstore: started });
    expect(s.cilium).toEqual({
      state: 'Warning',
      msg: 'Stale status data for probes: kvstore',
    });
    expect(s['cni-file']).toEqual({ state: 'Ok', msg: 'written' });
    expect(await healthz(h, true)).toEqual({ cilium: s.cilium });
    expect(controller(s, 'daemon-probe-kvstore')?.status).toMatchObject({
      'consecutive-failure-count': 1,
      'last-failure-msg': 'stale: no answer within 5000 ms',
    });
    expect(slowRuns).toBe(1);

    slow.resolve('etcd 3.5: ok');
    await vi.advanceTimersByTimeAsync(0);
    s = await healthz(h);
    expect(s.stale).toEqual({});
    expect(s.kvstore).toEqual({ state: 'Ok', msg: 'etcd 3.5: ok' });
    expect(s.cilium?.state).toBe('Ok');
    expect(controller(s, 'daemon-probe-kvstore')?.status).toMatchObject({
      'success-count': 1,
      'failure-count': 1,
      'consecutive-failure-count': 0,
      'last-failure-timestamp': new Date(Date.parse(started) + 5_000).toISOString(),
    });
    expect(controller(s, 'daemon-probe-kvstore')?.status?.['last-failure-msg']).toBeUndefined();
    // The other probe kept running at its interval meanwhile.
    expect(controller(s, 'daemon-probe-cni')?.status?.['success-count']).toBeGreaterThanOrEqual(5);
  });

  it('shows a failing probe’s error in its section, its health and its controller', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let fail = true;
    const h = hive([
      prober([
        probe({
          name: 'maps',
          intervalMs: 1_000,
          timeoutMs: 500,
          probe: () => {
            if (fail) throw new Error('cannot count cellium_lxc: EPERM');
            return 3;
          },
          apply: (s, n: number) =>
            void (s['bpf-maps'] = { 'dynamic-size-ratio': 0, maps: [{ name: 'x', size: n }] }),
          failed: (s, error) =>
            void (s['auth-certificate-provider'] = { state: 'Failure', msg: error }),
        }),
      ]),
    ]);
    await h.requireStart();
    await vi.advanceTimersByTimeAsync(0);
    let s = await healthz(h);
    expect(s['auth-certificate-provider']).toEqual({
      state: 'Failure',
      msg: 'cannot count cellium_lxc: EPERM',
    });
    expect(s.cilium).toEqual({
      state: 'Warning',
      msg: '1 degraded: daemon.job-probe-maps: run failed',
    });
    const health = s['modules-health']?.modules?.find(
      (m) => m['module-id'] === 'daemon.job-probe-maps',
    );
    expect(health).toMatchObject({ level: 'degraded', error: 'cannot count cellium_lxc: EPERM' });
    expect(controller(s, 'daemon-probe-maps')).toMatchObject({
      configuration: { interval: '1s', 'error-retry': true },
      status: {
        'failure-count': 1,
        'consecutive-failure-count': 1,
        'last-failure-msg': 'run failed: cannot count cellium_lxc: EPERM',
      },
    });

    fail = false;
    await vi.advanceTimersByTimeAsync(1_000);
    s = await healthz(h);
    expect(s['bpf-maps']?.maps).toEqual([{ name: 'x', size: 3 }]);
    expect(s.cilium?.state).toBe('Ok');
  });

  it('answers /healthz when a probe’s result cannot be applied, naming why in its section', async () => {
    const h = hive([
      prober([
        probe({
          name: 'odd',
          intervalMs: 60_000,
          timeoutMs: 1_000,
          probe: () => undefined,
          apply: () => {
            throw new Error('no such section');
          },
          failed: (s, error) => void (s['cni-file'] = { state: 'Failure', msg: error }),
        }),
      ]),
    ]);
    await h.requireStart();
    const s = await eventually(async () => {
      const r = await healthz(h);
      return r['cni-file']?.state === 'Failure' && r;
    });
    expect(s['cni-file']?.msg).toBe('its last result could not be applied: no such section');
  });

  it('lets the hive stop while a probe never answers', async () => {
    const h = hive([
      prober([
        probe({
          name: 'stuck',
          intervalMs: 1_000,
          timeoutMs: 10,
          probe: () => new Promise<never>(() => undefined),
          apply: () => undefined,
        }),
      ]),
    ]);
    await h.requireStart();
    await eventually(async () => (await healthz(h)).stale?.stuck);
    await h.requireStop();
    expect(h.hive.health.get('daemon.job-probe-stuck')?.level).toBe('stopped');
  });

  it('refuses a probe with a bad name, a duplicate name or no timeout, naming it', () => {
    const bad = (p: Partial<StatusProbe<number>>) =>
      hive([
        prober([
          probe({
            name: 'ok',
            intervalMs: 1,
            timeoutMs: 1,
            probe: () => 1,
            apply: () => undefined,
          }),
          probe({
            name: 'p',
            intervalMs: 1,
            timeoutMs: 1,
            probe: () => 1,
            apply: () => undefined,
            ...p,
          }),
        ]),
      ]).hive.populate();
    expect(() => bad({ name: 'Bad Name' })).toThrow(/status probe name 'Bad Name'/);
    expect(() => bad({ name: 'ok' })).toThrow(/status probe 'ok' added twice/);
    expect(() => bad({ timeoutMs: 0 })).toThrow(/status probe 'p': timeoutMs must be > 0/);
  });
});

describe('controllers', () => {
  it('lists every job of the hive with its counts, as Cilium’s ControllerStatus', async () => {
    const ticker = module(
      'ticker',
      'A timer job (a test double)',
      invoke('tick', { jobs: Jobs }, ({ jobs }) => {
        jobs.timer('tick', () => undefined, 60_000);
        jobs.oneShot('ep', () => Promise.resolve(), { controller: 'cilium-health-ep' });
      }),
    );
    const h = hive([ticker]);
    await h.requireStart();
    const s = await eventually(async () => {
      const r = await healthz(h);
      return controller(r, 'ticker-tick')?.status?.['success-count'] === 1 && r;
    });
    const c = controller(s, 'ticker-tick');
    expect(c).toMatchObject({
      configuration: { interval: '1m', 'error-retry': true },
      status: { 'failure-count': 0, 'consecutive-failure-count': 0 },
    });
    expect(c?.uuid).toMatch(/^[0-9a-f-]{36}$/);
    // A job Cilium's clients know by name keeps it.
    expect(controller(s, 'cilium-health-ep')).toMatchObject({
      configuration: { interval: '0s', 'error-retry': false },
    });
    expect(c?.status?.['last-success-timestamp']).toBeDefined();
  });
});

/** Whether this host has IPv6 loopback (::1 on an interface). */
function hasIpv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((as) => as?.some((a) => a.address === '::1'));
}

async function kubelet(port: number, host = '127.0.0.1') {
  const res = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`);
  return { code: res.status, body: await res.text() };
}

const flaky = module(
  'flaky',
  'A cell that reports itself degraded (a test double)',
  invoke('report', { h: Health }, ({ h }) => h.degraded('lost contact')),
);

describe('agent health port', () => {
  it('says 200 for Ok and Disabled, 503 for Warning and Failure, with the state and message', () => {
    expect(agentHealthReply({ state: 'Ok', msg: 'Cellium 1.0.0' })).toEqual({
      code: 200,
      body: 'Ok: Cellium 1.0.0\n',
    });
    expect(agentHealthReply({ state: 'Disabled' })).toEqual({ code: 200, body: 'Disabled\n' });
    expect(agentHealthReply({ state: 'Warning', msg: 'starting' }).code).toBe(503);
    expect(agentHealthReply({ state: 'Failure', msg: 'stopping' })).toEqual({
      code: 503,
      body: 'Failure: stopping\n',
    });
  });

  it('answers 200 while Ok and 503 when a cell is degraded, on 127.0.0.1 and ::1', async () => {
    const port = await freePort();
    const h = hive([agentHealthCell], { 'agent-health-port': port });
    await h.requireStart();
    expect(await kubelet(port)).toEqual({
      code: 200,
      body: expect.stringMatching(/^Ok: Cellium \d/) as unknown,
    });
    // ::1 too, where this host has IPv6 loopback; nothing there otherwise.
    if (hasIpv6Loopback()) expect((await kubelet(port, '::1')).code).toBe(200);
    else await expect(kubelet(port, '::1')).rejects.toThrow();
    await h.requireStop();

    const bad = hive([agentHealthCell, flaky], { 'agent-health-port': port });
    await bad.requireStart();
    expect(await kubelet(port)).toEqual({
      code: 503,
      body: 'Warning: 1 degraded: flaky: lost contact\n',
    });
  });

  it('answers 503 while a probe is stale', async () => {
    const port = await freePort();
    const never = prober([
      probe({
        name: 'stuck',
        intervalMs: 1_000,
        timeoutMs: 10,
        probe: () => new Promise<never>(() => undefined),
        apply: () => undefined,
      }),
    ]);
    const h = hive([agentHealthCell, never], { 'agent-health-port': port });
    await h.requireStart();
    const r = await eventually(async () => {
      const k = await kubelet(port);
      return k.code === 503 && k;
    });
    expect(r.body).toBe('Warning: Stale status data for probes: stuck\n');
  });

  it('opens nothing with port 0, and fails the start naming the flag when the port is taken', async () => {
    const off = hive([agentHealthCell], { 'agent-health-port': 0 });
    await off.requireStart();
    expect(off.hive.hooks().map((x) => x.name)).not.toContain('agent-health');

    const taken: Server = createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r));
    try {
      const h = hive([agentHealthCell], { 'agent-health-port': port });
      await expect(h.hive.start()).rejects.toThrow(
        `--agent-health-port=${port}: 127.0.0.1:${port} is already in use`,
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
