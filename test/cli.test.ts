// `cellium` against the whole agent: every command prints a table (or text) by default and the
// model as JSON with -o json; a refused request prints the agent's message and exits 1.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { cellium, celliumJson } from './support/cli.js';
import { program } from './support/procs.js';
import { startWholeAgent, type WholeAgent } from './support/whole-agent.js';
import { statusText } from '../cells/cmd/cli/render.js';

let whole: WholeAgent;
let sock: string;
let ep: Model<'Endpoint'>;

/** One pod as the CNI plugin adds it (IPAM, veth, endpoint). */
async function addPod(pod: string): Promise<Model<'Endpoint'>> {
  const api = new CelliumClient(whole.socket);
  try {
    const ipam = await api.postIpam({ query: { owner: `default/${pod}` } });
    const ifname = `lxc${pod}`;
    const index = whole.links.addVeth(ifname);
    return await api.putEndpointID({
      params: { id: 'cilium-local:0' },
      body: {
        addressing: { ipv4: ipam.address.ipv4 ?? '' },
        'container-id': `cid-${pod}`,
        'interface-name': ifname,
        'interface-index': index,
        'k8s-namespace': 'default',
        'k8s-pod-name': pod,
        labels: [`k8s:app=${pod}`],
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
      },
    });
  } finally {
    api.close();
  }
}

beforeAll(async () => {
  // On in-memory maps the prefilter keeps its list without attaching to the device.
  whole = await startWholeAgent('10.78.0.0/24', { 'prefilter-device': 'eth-cli' });
  sock = whole.socket;
  ep = await addPod('web');
});
afterAll(() => whole.stop());

describe('cellium', () => {
  it('status: text, --brief, -o json', async () => {
    const text = await cellium(sock, 'status');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Cellium:\s+Ok/m);
    expect(text.stdout).toMatch(/Modules health:\s+\d+\/\d+ ok/);
    expect((await cellium(sock, 'status', '--brief')).stdout).toBe('Ok\n');
    const json = await celliumJson<Model<'StatusResponse'>>(sock, 'status');
    expect(json.cilium?.state).toBe('Ok');
    // The hive's jobs are the controllers, all healthy; none listed unless asked.
    const n = json.controllers?.length ?? 0;
    expect(n).toBeGreaterThan(3);
    expect(text.stdout).toMatch(new RegExp(`^Controller Status:\\s+${n}/${n} healthy$`, 'm'));
    expect(text.stdout).not.toMatch(/Last success/);
    const all = await cellium(sock, 'status', '--all-controllers');
    expect(all.stdout).toMatch(/^\s+Name\s+Last success\s+Last error\s+Count\s+Message$/m);
    expect(all.stdout).toMatch(/^\s+daemon-probe-bpf-maps\s+\S+ ago\s+never\s+0\s+no error$/m);
  });

  it('status text names stale probes and lists failing controllers, as Cilium’s', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const text = statusText(
      {
        cilium: { state: 'Warning', msg: 'Stale status data for probes: kvstore' },
        stale: { kvstore: '2026-01-01T00:00:30.000Z' },
        controllers: [
          { name: 'ok-one', status: { 'consecutive-failure-count': 0 } },
          {
            name: 'maps-pressure',
            status: {
              'consecutive-failure-count': 2,
              'last-success-timestamp': '2026-01-01T00:00:00.000Z',
              'last-failure-timestamp': '2026-01-01T00:00:50.000Z',
              'last-failure-msg': 'run failed: EPERM',
            },
          },
        ],
      },
      false,
      { now },
    );
    expect(text).toContain('Stale status:       "kvstore" since 2026-01-01T00:00:30.000Z');
    expect(text).toContain('Controller Status:  1/2 healthy');
    expect(text).toMatch(/^\s+maps-pressure\s+1m0s ago\s+10s ago\s+2\s+run failed: EPERM$/m);
    expect(text).not.toContain('ok-one');
  });

  it('config: table, -o json, a change and a refusal', async () => {
    const text = await cellium(sock, 'config');
    expect(text.stdout).toMatch(/^Option\s+Value/);
    expect(text.stdout).toMatch(/PolicyEnforcement\s+default/);
    const cfg = await celliumJson<Model<'DaemonConfiguration'>>(sock, 'config');
    expect(cfg.status?.realized?.['policy-enforcement']).toBe('default');
    const changed = await celliumJson<Model<'DaemonConfiguration'>>(sock, 'config', 'debug=on');
    expect(changed.status?.realized?.options?.Debug).toBe('Enabled');
    await cellium(sock, 'config', 'Debug=Disabled');
    const always = await celliumJson<Model<'DaemonConfiguration'>>(
      sock,
      'config',
      'policy-enforcement=always',
    );
    expect(always.status?.realized?.['policy-enforcement']).toBe('always');
    await cellium(sock, 'config', 'PolicyEnforcement=default');
    const refused = await cellium(sock, 'config', 'policy-enforcement=sometimes');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/400: /);
  });

  it('endpoint list and get', async () => {
    const text = await cellium(sock, 'endpoint', 'list');
    expect(text.stdout).toMatch(/^ENDPOINT\s+STATE\s+IDENTITY/);
    expect(text.stdout).toContain(`${ep.id ?? ''} `);
    expect(text.stdout).toContain('default/web');
    const list = await celliumJson<Model<'Endpoint'>[]>(sock, 'endpoint', 'list');
    expect(list.map((e) => e.id)).toEqual([ep.id]);
    const one = await celliumJson<Model<'Endpoint'>>(
      sock,
      'endpoint',
      'get',
      'pod-name:default/web',
    );
    expect(one.id).toBe(ep.id);
  });

  it('endpoint labels: show, add and delete user labels', async () => {
    const id = String(ep.id);
    const text = await cellium(sock, 'endpoint', 'labels', id);
    expect(text.stdout).toMatch(/^LABEL\s+KIND/);
    expect(text.stdout).toMatch(/k8s:app=web\s+security-relevant/);
    const added = await celliumJson<Model<'LabelConfiguration'>>(
      sock,
      'endpoint',
      'labels',
      id,
      '--add',
      'team=a',
    );
    expect(added.spec?.user).toEqual(['team=a']);
    expect((await cellium(sock, 'endpoint', 'labels', id)).stdout).toMatch(/team=a\s+user/);
    const deleted = await celliumJson<Model<'LabelConfiguration'>>(
      sock,
      'endpoint',
      'labels',
      id,
      '--delete',
      'team=a',
    );
    expect(deleted.spec?.user).toEqual([]);
  });

  it('endpoint log and health', async () => {
    const id = String(ep.id);
    const log = await cellium(sock, 'endpoint', 'log', id);
    expect(log.stdout).toMatch(/^Timestamp\s+Status\s+State\s+Message/);
    expect(log.stdout).toMatch(/ok\s+ready/);
    const entries = await celliumJson<Model<'EndpointStatusLog'>>(sock, 'endpoint', 'log', id);
    expect(entries.some((c) => c.state === 'ready')).toBe(true);
    const health = await cellium(sock, 'endpoint', 'health', id);
    expect(health.stdout).toMatch(/^Overall Health:\s+OK$/m);
    expect(health.stdout).toMatch(/^Connected:\s+yes$/m);
    const h = await celliumJson<Model<'EndpointHealth'>>(sock, 'endpoint', 'health', id);
    expect(h.overallHealth).toBe('OK');
  });

  it('ip list and identity list/get', async () => {
    const ip = ep.status?.networking?.addressing?.[0]?.ipv4 ?? '';
    const identity = ep.status?.identity?.id ?? 0;
    expect((await cellium(sock, 'ip', 'list')).stdout).toMatch(
      new RegExp(`^${ip.replace(/\./g, '\\.')}/32\\s+${identity}\\s`, 'm'),
    );
    const entries = await celliumJson<Model<'IPListEntry'>[]>(
      sock,
      'ip',
      'list',
      '--cidr',
      `${ip}/32`,
    );
    expect(entries.map((e) => e.cidr)).toEqual([`${ip}/32`]);
    expect((await cellium(sock, 'identity', 'list')).stdout).toMatch(
      new RegExp(`^${identity}\\s+k8s:app=web`, 'm'),
    );
    const ids = await celliumJson<Model<'Identity'>[]>(sock, 'identity', 'list');
    expect(ids.map((i) => i.id)).toContain(identity);
    const one = await celliumJson<Model<'Identity'>>(sock, 'identity', 'get', String(identity));
    expect(one.labels).toContain('k8s:app=web');
    expect((await cellium(sock, 'identity', 'get', String(identity))).stdout).toContain(
      'k8s:app=web',
    );
    const used = await cellium(sock, 'identity', 'list', '--endpoints');
    expect(used.stdout).toMatch(new RegExp(`^${identity}\\s+k8s:app=web\\S*\\s+1$`, 'm'));
    const usedJson = await celliumJson<Model<'IdentityEndpoints'>[]>(
      sock,
      'identity',
      'list',
      '--endpoints',
    );
    expect(usedJson.find((u) => u.identity?.id === identity)?.refCount).toBe(1);
  });

  it('prefilter list, update and delete: text and -o json', async () => {
    expect((await cellium(sock, 'prefilter', 'list')).stdout).toBe('Revision: 1\nDENY CIDR\n');
    const up = await cellium(
      sock,
      'prefilter',
      'update',
      '--cidr',
      '198.51.100.0/24,203.0.113.9/32',
    );
    expect(up.stdout).toBe('Updated 2 prefilter entries (revision 2)\n');
    const listed = await cellium(sock, 'prefilter', 'ls');
    expect(listed.stdout).toMatch(
      /^Revision: 2\nDENY CIDR\n198\.51\.100\.0\/24\n203\.0\.113\.9\/32\n$/,
    );
    const json = await celliumJson<Model<'Prefilter'>>(sock, 'prefilter', 'list');
    expect(json.status?.realized).toEqual({
      revision: 2,
      deny: ['198.51.100.0/24', '203.0.113.9/32'],
    });
    const stale = await cellium(
      sock,
      'prefilter',
      'delete',
      '--cidr',
      '203.0.113.9/32',
      '--revision',
      '1',
    );
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/409: .*revision 2, not 1/);
    const del = await celliumJson<Model<'Prefilter'>>(
      sock,
      'prefilter',
      'delete',
      '--cidr',
      '203.0.113.9/32',
      '--revision',
      '2',
    );
    expect(del.spec).toEqual({ revision: 3, deny: ['198.51.100.0/24'] });
    const bad = await cellium(sock, 'prefilter', 'update', '--revision', 'x');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("'x' is not a revision");
  });

  it('version', async () => {
    expect((await cellium(sock, 'version')).stdout).toMatch(/^Client: .+\nAgent: .+node/);
    const v = await celliumJson<{ client: string; agent: string }>(sock, 'version');
    expect(v.agent).not.toBe('unreachable');
  });

  it("shows the agent's message when a request is refused, and exits 1", async () => {
    const r = await cellium(sock, 'endpoint', 'get', 'container-id:nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: GET \/v1\/endpoint\/container-id%3Anope: 404: .*nope/);
    const bad = await cellium(sock, 'identity', 'get', 'abc');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/400: .*abc/);
    const gone = await cellium('/nonexistent/cellium.sock', 'status');
    expect(gone.stderr).toMatch(/cannot reach cellium-agent/);
  });

  it('endpoint disconnect deletes the endpoint', async () => {
    const db = await addPod('db');
    const r = await cellium(sock, 'endpoint', 'disconnect', String(db.id));
    expect(r.stdout).toBe(`Endpoint ${db.id ?? ''} successfully disconnected\n`);
    const again = await cellium(sock, 'endpoint', 'get', String(db.id));
    expect(again.code).toBe(1);
    const other = await addPod('cache');
    const j = await celliumJson<{ disconnected: boolean }>(
      sock,
      'endpoint',
      'disconnect',
      String(other.id),
    );
    expect(j.disconnected).toBe(true);
  });
});

describe('cellium writing into a pipe its reader closed', () => {
  it('exits quietly on EPIPE instead of printing a stack trace', async () => {
    const p = spawn(...cliCommand('--help'), { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.destroy(); // the reader is gone before the CLI writes a byte
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => p.on('close', r));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});

function cliCommand(...args: string[]): [string, string[]] {
  const [bin = '', ...rest] = program('cellium');
  return [bin, [...rest, ...args]];
}
