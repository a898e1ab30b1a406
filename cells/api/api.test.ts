import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { ApiClient, ApiClientError } from '../../core/api/index.js';
import { invoke, Lifecycle, module } from '../../core/hive/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiRoutes, ApiServer, SOCKET_MODE } from './index.js';
import { apiRequest } from '../../core/testing/api.js';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-api-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function sockPath(): string {
  return join(tempDir(), 'api.sock');
}

/** A stand-in for the endpoint cell: serves PUT /endpoint/{id} and GET /endpoint. */
const fakeEndpointCell = module(
  'endpoint',
  'Test double of the endpoint cell',
  invoke('routes', { routes: ApiRoutes }, ({ routes }) => {
    routes.handle('PutEndpointID', (req) => ({
      status: 201,
      body: { id: Number(req.params.id), status: { state: req.body.state } },
    }));
    routes.handle('GetEndpoint', (req) => ({
      status: 200,
      body: (req.body ?? []).map((l, i) => ({
        id: i,
        status: { state: 'ready', labels: { derived: [l] } },
      })),
    }));
    routes.handle('GetIdentity', () => ({ status: 200, body: [{ id: 'not-a-number' }] as never }));
  }),
);

/**
 * Why others (not owner, not group) could connect to the socket at `path` right now, or
 * undefined: connecting needs write on the socket and search on every directory above it.
 */
function reachableByOthers(path: string): string | undefined {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o002) === 0) return undefined;
  for (let d = dirname(path); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return undefined;
    if (d === dirname(d)) break;
  }
  return `${path} is mode 0${mode.toString(8)} and every directory above it is searchable`;
}

/** A fake stand-in for a cell that starts after the API and fails. */
const failingCell = module(
  'broken',
  'A cell whose start hook fails',
  invoke('fail', { lifecycle: Lifecycle }, ({ lifecycle }) => {
    lifecycle.append({
      onStart: () => {
        throw new Error('broken on purpose');
      },
    });
  }),
);

function apiHive(extra = [fakeEndpointCell], flags: Record<string, unknown> = {}) {
  return testHive([apiCell, ...extra], { flags: { 'socket-path': sockPath(), ...flags } });
}

function req(h: ReturnType<typeof apiHive>, method: string, path: string, body?: unknown) {
  return apiRequest(h.get(ApiServer).app, method, path, { body });
}

describe('api cell', () => {
  it('validates requests against the spec before the handler, naming the field and rule', async () => {
    const h = apiHive();
    const missing = await req(h, 'PUT', '/endpoint/12', { addressing: {} });
    expect(missing).toEqual({ status: 400, body: 'invalid request: body.state is required' });
    const badEnum = await req(h, 'PUT', '/endpoint/12', { state: 'sleepy' });
    expect(badEnum.status).toBe(400);
    expect(badEnum.body).toMatch(
      /^invalid request: body\.state must be one of: waiting-for-identity, not-ready/,
    );
    const badType = await req(h, 'PUT', '/endpoint/12', {
      state: 'ready',
      'interface-index': 'eth0',
    });
    expect(badType).toEqual({
      status: 400,
      body: 'invalid request: body.interface-index must be integer',
    });
    const nested = await req(h, 'PUT', '/endpoint/12', { state: 'ready', addressing: { ipv4: 7 } });
    expect(nested).toEqual({
      status: 400,
      body: 'invalid request: body.addressing.ipv4 must be string',
    });
    const ok = await req(h, 'PUT', '/endpoint/12', { state: 'waiting-for-identity' });
    expect(ok).toEqual({
      status: 201,
      body: { id: 12, status: { state: 'waiting-for-identity' } },
    });
  });

  it('rejects malformed JSON and bad query parameters with 400', async () => {
    const h = apiHive();
    const res = await h
      .get(ApiServer)
      .app.request('/v1/endpoint/1', { method: 'PUT', body: '{"state":' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatch(/^invalid request: body is not valid JSON/);
    const q = await h.get(ApiServer).app.request('/v1/ipam?family=ipv5', { method: 'POST' });
    // No ipam cell here: absent cells answer 501 before any validation.
    expect(q.status).toBe(501);
  });

  it('answers 501 naming the cell for operations no cell serves, and 404 for unknown paths', async () => {
    const h = apiHive([]);
    expect(await req(h, 'GET', '/lrp')).toEqual({
      status: 501,
      body: "GET /v1/lrp is served by the 'lrp' cell, which is not part of this agent",
    });
    expect(await req(h, 'GET', '/bgp/peers')).toEqual({
      status: 501,
      body: "GET /v1/bgp/peers is served by the 'bgp' cell, which is not part of this agent",
    });
    expect(await req(h, 'GET', '/no/such')).toEqual({
      status: 404,
      body: 'no such API path: GET /v1/no/such',
    });
  });

  it('refuses a reply that does not match the spec when response validation is on', async () => {
    process.env.CELLIUM_VALIDATE_RESPONSES = '1';
    try {
      const h = apiHive();
      const r = await req(h, 'GET', '/identity');
      expect(r.status).toBe(500);
      expect(r.body).toMatch(/reply does not match the spec: response 200\.0\.id must be integer/);
    } finally {
      delete process.env.CELLIUM_VALIDATE_RESPONSES;
    }
  });

  it('serves on a 0660 unix socket, takes label filters in GET bodies, removes the socket on stop', async () => {
    const h = apiHive();
    await h.requireStart();
    const path = h.get(ApiServer).socketPath;
    expect(statSync(path).mode & 0o777).toBe(SOCKET_MODE);
    const api = new ApiClient(path);
    const eps = await api.request<{ status: { labels: { derived: string[] } } }[]>(
      'GET',
      '/endpoint',
      {
        body: ['k8s:app=web'],
      },
    );
    expect(eps.map((e) => e.status.labels.derived)).toEqual([['k8s:app=web']]);
    await expect(api.request('PUT', '/endpoint/1', { body: {} })).rejects.toThrow(ApiClientError);
    api.close();
    await h.requireStop();
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });

  it('enforces the body size limit', async () => {
    const h = apiHive([fakeEndpointCell], { 'api-body-limit': 1024 });
    await h.requireStart();
    const api = new ApiClient(h.get(ApiServer).socketPath);
    const big = {
      state: 'ready',
      labels: Array.from({ length: 200 }, (_, i) => `k8s:label${i}=value`),
    };
    await expect(api.request('PUT', '/endpoint/1', { body: big })).rejects.toThrow(
      /413.*larger than 1024 bytes/,
    );
    api.close();
  });

  it('never steals a live socket, and removes a stale one left by a crashed agent', async () => {
    const path = sockPath();
    // A live listener: the agent must refuse to start.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(path, r));
    await expect(apiHive([], { 'socket-path': path }).requireStart()).rejects.toThrow(
      `another agent is already serving on ${path}`,
    );
    await new Promise<void>((r) => srv.close(() => r()));
    // A crashed agent: a process killed with SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise((r) => child.stdout.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(statSync(path).isSocket()).toBe(true);
    const h = apiHive([], { 'socket-path': path });
    await h.requireStart();
    const api = new ApiClient(path);
    await expect(api.request('GET', '/healthz')).rejects.toThrow(/501/);
    api.close();
  });

  it('never lets others reach the socket, even when started under umask 0', async () => {
    const dir = tempDir();
    // Others may search the directory, so only the socket's own protection keeps them out.
    chmodSync(dir, 0o777);
    const path = join(dir, 'api.sock');
    const h = apiHive([], { 'socket-path': path });
    // The first moment a socket exists is right after the synchronous bind inside listen(). A
    // directory watch alone is not enough: its event arrives after a chmod made right after
    // listen() has already run on libuv's thread pool, so it would miss the window.
    const atBind: string[] = [];
    const listen = Object.getOwnPropertyDescriptor(Server.prototype, 'listen')?.value as (
      this: Server,
      ...a: unknown[]
    ) => Server;
    const spy = vi.spyOn(Server.prototype, 'listen').mockImplementation(function (
      this: Server,
      ...args: unknown[]
    ) {
      const s = listen.apply(this, args);
      const where: unknown = args[0];
      const bound = typeof where === 'string' ? where : (where as { path?: string }).path;
      if (bound !== undefined) atBind.push(reachableByOthers(bound) ?? 'private');
      return s;
    });
    // The first moment the name appears where clients look for it.
    const atAppearance: number[] = [];
    const appeared = new Promise<void>((resolve) => {
      const w = watch(dir, (_, name) => {
        const st = name === 'api.sock' ? statSync(path, { throwIfNoEntry: false }) : undefined;
        if (!st) return;
        atAppearance.push(st.mode & 0o777);
        w.close();
        resolve();
      });
      onTestFinished(() => w.close());
    });
    const umask = process.umask(0);
    let after: number;
    try {
      await h.requireStart();
    } finally {
      after = process.umask(umask);
      spy.mockRestore();
    }
    await appeared;
    // The agent left the process umask as it found it.
    expect(after).toBe(0);
    expect(atBind).toEqual(['private']);
    expect(atAppearance.filter((m) => (m & ~SOCKET_MODE) !== 0)).toEqual([]);
    expect(statSync(path).mode & 0o777).toBe(SOCKET_MODE);
    expect(reachableByOthers(path)).toBeUndefined();
  });

  it('leaves no socket behind when --api-socket-group names no group', async () => {
    const path = sockPath();
    await expect(
      apiHive([], { 'socket-path': path, 'api-socket-group': 'no-such-group-xyz' }).requireStart(),
    ).rejects.toThrow(/group 'no-such-group-xyz' \(--api-socket-group\) does not exist/);
    expect(readdirSync(dirname(path))).toEqual([]);
  });

  it('sets the group of the socket named by --api-socket-group', async () => {
    const h = apiHive([], { 'api-socket-group': '4242' });
    await h.requireStart();
    const st = statSync(h.get(ApiServer).socketPath);
    expect([st.gid, st.mode & 0o777]).toEqual([4242, SOCKET_MODE]);
  });

  it('removes the socket when a cell that starts after the API fails', async () => {
    const path = sockPath();
    await expect(apiHive([failingCell], { 'socket-path': path }).requireStart()).rejects.toThrow(
      /broken on purpose/,
    );
    expect(readdirSync(dirname(path))).toEqual([]);
  });

  it('clears bind directories left by an agent killed while binding', async () => {
    const path = sockPath();
    const stale = join(dirname(path), '.api.sock.Xy12Zw');
    mkdirSync(stale, { mode: 0o700 });
    writeFileSync(join(stale, 's'), '');
    const h = apiHive([], { 'socket-path': path });
    await h.requireStart();
    expect(readdirSync(dirname(path))).toEqual(['api.sock']);
  });

  it('on stop, removes only its own socket, not one that replaced it', async () => {
    const h = apiHive([]);
    await h.requireStart();
    const path = h.get(ApiServer).socketPath;
    rmSync(path);
    const other = createServer();
    await new Promise<void>((r) => other.listen(path, r));
    onTestFinished(() => new Promise<void>((r) => other.close(() => r())));
    await h.requireStop();
    expect(statSync(path).isSocket()).toBe(true);
  });

  it('refuses a socket path too long to bind, naming the flag', async () => {
    const path = join(dirname(sockPath()), `${'x'.repeat(100)}.sock`);
    await expect(apiHive([], { 'socket-path': path }).requireStart()).rejects.toThrow(
      /--socket-path .* is too long/,
    );
  });
});

describe('dot segments', () => {
  it("refuses a '.' or '..' path segment (also %2e-encoded) before URL parsing resolves it", async () => {
    const socketPath = sockPath();
    const h = testHive([apiCell, fakeEndpointCell], { flags: { 'socket-path': socketPath } });
    await h.requireStart();
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ socketPath, path, method: 'GET' }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of [
      '/v1/endpoint/%2e%2e/config',
      '/v1/endpoint/../config',
      '/v1/map/%2E/events',
    ]) {
      const r = await raw(path);
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body), path).toMatch(/path segment ".*" is not allowed/);
    }
    // A name that merely contains dots is fine.
    expect((await raw('/v1/endpoint?x=..')).status).toBe(200);
  });
});
