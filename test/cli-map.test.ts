// `cellium map list|get|events` and GET /v1/map* against a running agent process: an endpoint's
// lxc and ipcache entries are in the maps' caches as desired-action ok, and `map events -f`
// receives a new endpoint's writes live, exits when killed, and leaves no subscriber behind.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { eventually } from '../core/testing/test-hive.js';
import { cellium, celliumJson } from './support/cli.js';
import { program, ROOT, startAgent, type AgentProcess } from './support/procs.js';

let agent: AgentProcess;
let api: CelliumClient;
let first: Model<'Endpoint'>;

async function addEndpoint(pod: string): Promise<Model<'Endpoint'>> {
  const ipam = await api.postIpam({ query: { owner: `default/${pod}` } });
  return api.putEndpointID({
    params: { id: 'cilium-local:0' },
    body: {
      addressing: { ipv4: ipam.address.ipv4 ?? '' },
      'container-id': `cid-${pod}`,
      'k8s-namespace': 'default',
      'k8s-pod-name': pod,
      labels: [`k8s:app=${pod}`],
      state: 'waiting-for-identity',
      'sync-build-endpoint': true,
    },
  });
}

const ipOf = (ep: Model<'Endpoint'>): string =>
  ep.status?.networking?.addressing?.[0]?.ipv4 ?? 'no ipv4';

// A fresh agent per test: startAgent ties the process to the test that started it.
beforeEach(async () => {
  agent = await startAgent({ args: ['--ipv4-range=10.81.0.0/24'] });
  api = new CelliumClient(agent.socket);
  onTestFinished(() => api.close());
  first = await addEndpoint('web');
});

describe('GET /v1/map with a running agent', () => {
  it("lists the endpoint's lxc and ipcache entries in the caches as desired-action ok", async () => {
    const ip = ipOf(first);
    const lxc = await api.getMapName({ params: { name: 'cellium_lxc' } });
    expect(lxc.path).toMatch(/\/tc\/globals\/cellium_lxc$/);
    expect(lxc.cache).toContainEqual({
      key: `ip=${ip} family=1 key=0 cluster_id=0`,
      value: expect.stringContaining(`lxc_id=${first.id ?? -1} `) as unknown,
      'desired-action': 'ok',
    });
    const ipcache = await api.getMapName({ params: { name: 'cellium_ipcache' } });
    expect(ipcache.cache).toContainEqual({
      key: `prefixlen=64 cluster_id=0 family=1 ip=${ip}`,
      value: expect.stringMatching(
        new RegExp(`^sec_identity=${first.status?.identity?.id ?? -1} `),
      ) as unknown,
      'desired-action': 'ok',
    });
    const list = await api.getMap();
    const names = (list.maps ?? []).map((m) => m.path?.split('/').pop());
    expect(names).toEqual(
      expect.arrayContaining(['cellium_ipcache', 'cellium_lxc', 'cellium_metrics']),
    );
  });
});

describe('cellium map', () => {
  it('list: counts entries and errors from each cache; -o json is the model', async () => {
    const text = await cellium(agent.socket, 'map', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Name\s+Num entries\s+Num errors\s+Cache enabled\n/);
    expect(text.stdout).toMatch(/^cellium_lxc\s+\d+\s+0\s+true$/m);
    const json = await celliumJson<Model<'BPFMapList'>>(agent.socket, 'map', 'list');
    const lxc = json.maps?.find((m) => m.name === 'cellium_lxc');
    const row = new RegExp(`^cellium_lxc\\s+${lxc?.cache?.length ?? -1}\\s`, 'm');
    expect(text.stdout).toMatch(row);
    expect(lxc?.cache?.length).toBeGreaterThanOrEqual(1);
  });

  it('get: key, value, state and error of every cache entry; unknown map: the message', async () => {
    const text = await cellium(agent.socket, 'map', 'get', 'cellium_lxc');
    expect(text.stdout).toMatch(/^Key\s+Value\s+State\s+Error\n/);
    expect(text.stdout).toContain(`ip=${ipOf(first)} family=1 key=0 cluster_id=0`);
    expect(text.stdout).toMatch(/sec_id=\d+\s+ok$/m);
    const json = await celliumJson<Model<'BPFMap'>>(agent.socket, 'map', 'get', 'cellium_ipcache');
    expect(json.cache?.every((e) => e['desired-action'] === 'ok')).toBe(true);
    const nope = await cellium(agent.socket, 'map', 'get', 'cellium_nope');
    expect(nope.code).toBe(1);
    expect(nope.stderr).toMatch(/404: map "cellium_nope" not found \(maps: [^)]*cellium_ipcache/);
  });

  it('events: the buffered writes, as text and as one JSON object per line', async () => {
    const text = await cellium(agent.socket, 'map', 'events', 'cellium_lxc');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `^key="ip=${ipOf(first).replaceAll('.', '\\.')} family=1 key=0 cluster_id=0" value=".*lxc_id=${first.id ?? -1} .*" time=\\S+ action=update desiredState=ok lastError=""$`,
        'm',
      ),
    );
    const json = await cellium(agent.socket, '-o', 'json', 'map', 'events', 'cellium_lxc');
    const lines = json.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines) {
      expect(JSON.parse(l)).toMatchObject({ action: 'update', 'desired-action': 'ok' });
    }
    const none = await cellium(agent.socket, 'map', 'events', 'cellium_metrics');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/404: map "cellium_metrics" has no event buffer/);
  });

  it('events -f: a new endpoint arrives live; killed, the CLI exits and the agent drops the stream', async () => {
    const cli = spawn(
      program('cellium')[0] ?? '',
      [
        ...program('cellium').slice(1),
        '-H',
        `unix://${agent.socket}`,
        '-o',
        'json',
        'map',
        'events',
        'cellium_ipcache',
        '-f',
      ],
      { cwd: ROOT },
    );
    const exited = new Promise<number | null>((r) =>
      cli.on('exit', (code, sig) => r(code ?? (sig ? -1 : null))),
    );
    // The same stream as text, side by side.
    const textCli = spawn(
      program('cellium')[0] ?? '',
      [
        ...program('cellium').slice(1),
        '-H',
        `unix://${agent.socket}`,
        'map',
        'events',
        'cellium_ipcache',
        '--follow',
      ],
      { cwd: ROOT },
    );
    onTestFinished(() => {
      textCli.kill('SIGKILL');
    });
    let text = '';
    textCli.stdout.on('data', (d: Buffer) => (text += d.toString()));
    const seen: Model<'MapEvent'>[] = [];
    createInterface({ input: cli.stdout }).on('line', (l) => {
      seen.push(JSON.parse(l) as Model<'MapEvent'>);
    });
    const key = (ip: string) => `prefixlen=64 cluster_id=0 family=1 ip=${ip}`;
    await eventually(() => seen.some((e) => e.key === key(ipOf(first))), 30_000);
    const before = agent.logs().split('map event stream ended').length;
    const second = await addEndpoint('shop');
    await eventually(() => seen.some((e) => e.key === key(ipOf(second))), 30_000);
    expect(seen.find((e) => e.key === key(ipOf(second)))).toMatchObject({
      action: 'update',
      'desired-action': 'ok',
    });
    await eventually(() => text.includes(`key="${key(ipOf(second))}"`), 30_000);
    expect(text).toMatch(
      new RegExp(
        `^key="${key(ipOf(second))}" value=".*" time=\\S+ action=update desiredState=ok lastError=""$`,
        'm',
      ),
    );
    textCli.kill('SIGTERM');
    cli.kill('SIGTERM');
    expect(await exited).not.toBe(0);
    // Both streams end; the last to go leaves no follower.
    await eventually(() => agent.logs().split('map event stream ended').length > before + 1);
    const ended = agent
      .logs()
      .split('\n')
      .filter((l) => l.includes('map event stream ended'))
      .map((l) => JSON.parse(l) as { map: string; followers: number; why: string });
    expect(ended.at(-1)).toMatchObject({
      map: 'cellium_ipcache',
      followers: 0,
      why: 'client gone',
    });
  });
});
