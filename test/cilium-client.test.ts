// A client generated from the spec calls every operation the agent implements the way Cilium's
// CLI and CNI plugin do (reference §11: headers, label bodies, endpoint id prefixes), against the
// whole agent on its unix socket, and checks what comes back.
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRoutes } from '../cells/api/index.js';
import { ApiClientError } from '../core/api/client.js';
import { OPERATIONS } from '../core/api/ops.gen.js';
import { CelliumClient } from '../core/api/typed-client.js';
import type { CallArgs, Model, OperationId, Success } from '../core/api/types.js';
import { startWholeAgent, type WholeAgent } from './support/whole-agent.js';

/** The typed client, noting which operations were sent. */
class RecordingClient extends CelliumClient {
  readonly sent = new Set<string>();
  protected override call<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Success<K>> {
    this.sent.add(op);
    return super.call(op, args);
  }
  protected override stream<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Readable> {
    this.sent.add(op);
    return super.stream(op, args);
  }
}

/** The agent's error for a call that must fail. */
async function refusal(p: Promise<unknown>): Promise<ApiClientError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof ApiClientError)) throw new Error(`expected an error reply, got ${String(e)}`);
  return e;
}

let whole: WholeAgent;
let api: RecordingClient;
let links: WholeAgent['links'];

beforeAll(async () => {
  // On in-memory maps the prefilter keeps its list without attaching to the device.
  whole = await startWholeAgent('10.77.0.0/24', { 'prefilter-device': 'eth-client' });
  links = whole.links;
  api = new RecordingClient(whole.socket);
});
afterAll(async () => {
  api.close();
  await whole.stop();
});

/** CNI ADD as Cilium's plugin does it: config, IPAM with expiration, veth, endpoint PUT. */
async function cniAdd(pod: string): Promise<{ id: number; ip: string; cid: string }> {
  await api.getConfig();
  const cfg = await api.getConfig();
  expect(cfg.status?.datapathMode).toBe('veth');
  expect(cfg.status?.deviceMTU).toBeGreaterThan(0);
  const ipam = await api.postIpam({
    query: { owner: `default/${pod}` },
    headers: { expiration: true },
  });
  const ip = ipam.address.ipv4 ?? '';
  expect(ipam.ipv4?.ip).toBe(ip);
  expect(ipam.ipv4?.['expiration-uuid']).toMatch(/.+/);
  expect(ipam['host-addressing'].ipv4?.enabled).toBe(true);
  const ifname = `lxc${pod}`.slice(0, 15);
  const index = links.addVeth(ifname);
  const cid = `cid-${pod}`;
  const ep = await api.putEndpointID({
    params: { id: 'cilium-local:0' },
    body: {
      addressing: { ipv4: ip, 'ipv4-expiration-uuid': ipam.ipv4?.['expiration-uuid'] ?? '' },
      'container-id': cid,
      'host-mac': '02:00:00:00:00:fe',
      mac: '02:00:00:00:00:01',
      'interface-index': index,
      'interface-name': ifname,
      'k8s-namespace': 'default',
      'k8s-pod-name': pod,
      labels: [`k8s:app=${pod}`],
      state: 'waiting-for-identity',
      'sync-build-endpoint': true,
      'datapath-configuration': {},
    },
  });
  expect(ep.status?.state).toBe('ready');
  return { id: ep.id ?? 0, ip, cid };
}

describe("a client generated from the spec, used as Cilium's CLI and CNI use it", () => {
  let web: { id: number; ip: string; cid: string };

  it('status: brief and full /healthz', async () => {
    const brief = await api.getHealthz({ headers: { brief: true } });
    expect(brief.cilium?.state).toBe('Ok');
    const s = await api.getHealthz();
    expect(s.kvstore?.state).toBe('Disabled');
    expect(s['kube-proxy-replacement']?.mode).toBe('False');
    expect(s.ipam?.allocations).toEqual({});
  });

  it('CNI ADD, then the endpoint by every id form the CLI uses', async () => {
    web = await cniAdd('web');
    const all = await api.getEndpoint({ body: [] });
    expect(all.map((e) => e.id)).toEqual([web.id]);
    const byLabel = await api.getEndpoint({ body: ['k8s:app=web'] });
    expect(byLabel.map((e) => e.id)).toEqual([web.id]);
    for (const id of [
      String(web.id),
      `cilium-local:${web.id}`,
      `container-id:${web.cid}`,
      'pod-name:default/web',
    ]) {
      expect((await api.getEndpointID({ params: { id } })).id).toBe(web.id);
    }
    const health = await api.getEndpointIDHealthz({ params: { id: `container-id:${web.cid}` } });
    expect(health.overallHealth).toBe('OK');
    const log = await api.getEndpointIDLog({ params: { id: String(web.id) } });
    expect(log.length).toBeGreaterThan(0);
  });

  it("config: Cilium's option names and values, any case; read-only ones refused", async () => {
    await api.patchConfig({ body: { options: { Debug: 'Enabled' } } });
    expect((await api.getConfig()).status?.realized?.options?.Debug).toBe('Enabled');
    await api.patchConfig({ body: { options: { debug: '0' } } });
    expect((await api.getConfig()).status?.realized?.options?.Debug).toBe('Disabled');
    const e = await refusal(api.patchConfig({ body: { options: { PolicyAuditMode: 'true' } } }));
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/PolicyAuditMode is read-only.*audit mode/);
  });

  it('nodes: the local node with its id and addresses, and per-client diffs', async () => {
    const ids = await api.getNodeIds();
    expect(ids[0]?.id).toBe(0);
    const first = await api.getClusterNodes({ headers: { 'client-id': 0 } });
    expect(first['nodes-added']?.map((n) => n.name)).toEqual([first.self]);
    const again = await api.getClusterNodes({ headers: { 'client-id': first['client-id'] ?? 0 } });
    expect(again['nodes-added']).toEqual([]);
  });

  it('endpoint config and labels', async () => {
    const id = String(web.id);
    // The deprecated PATCH /endpoint/{id} (Cilium's docker plugin) changes the labels.
    await api.patchEndpointID({
      params: { id },
      body: { state: 'waiting-for-identity', labels: ['k8s:app=web', 'k8s:tier=front'] },
    });
    const patched = await api.getEndpointID({ params: { id } });
    expect(patched.status?.labels?.['security-relevant']).toContain('k8s:tier=front');
    const cfg = await api.getEndpointIDConfig({ params: { id } });
    expect(cfg.realized?.options).toBeDefined();
    await api.patchEndpointIDConfig({ params: { id }, body: {} });
    const labelsViaConfig = await refusal(
      api.patchEndpointIDConfig({
        params: { id },
        body: { 'label-configuration': { user: ['a=b'] } },
      }),
    );
    expect(labelsViaConfig.status).toBe(400);
    expect(labelsViaConfig.message).toContain('/labels');
    await api.patchEndpointIDLabels({ params: { id }, body: { user: ['app=extra'] } });
    const labels = await api.getEndpointIDLabels({ params: { id } });
    expect(labels.spec?.user).toEqual(['app=extra']);
    expect(labels.status?.realized?.user).toEqual(['app=extra']);
  });

  it('identities, the ipcache and the maps', async () => {
    const ep = await api.getEndpointID({ params: { id: String(web.id) } });
    const identity = ep.status?.identity?.id ?? 0;
    expect(identity).toBeGreaterThanOrEqual(256);
    const ids = await api.getIdentity({ body: [] });
    expect(ids.map((i) => i.id)).toContain(identity);
    expect((await api.getIdentityID({ params: { id: String(identity) } })).id).toBe(identity);
    const used = await api.getIdentityEndpoints();
    expect(used.find((u) => u.identity?.id === identity)?.refCount).toBe(1);
    const ip = await api.getIP({ query: { cidr: '10.77.0.0/24' } });
    expect(ip.find((e) => e.cidr === `${web.ip}/32`)?.identity).toBe(identity);
    const maps = await api.getMap();
    expect(maps.maps?.map((m) => m.path ?? '').some((p) => p.endsWith('cellium_lxc'))).toBe(true);
    const lxc = await api.getMapName({ params: { name: 'cellium_lxc' } });
    expect(lxc.cache).toEqual([expect.objectContaining({ 'desired-action': 'ok' })]);
    // `map events` reads a stream of MapEvent objects, one JSON document after another.
    const stream = await api.getMapNameEvents({ params: { name: 'cellium_lxc' } });
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    const events = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { action: string; 'desired-action': string });
    expect(events).toContainEqual(
      expect.objectContaining({ action: 'update', 'desired-action': 'ok' }),
    );
  });

  it('debuginfo carries the version and the endpoints', async () => {
    const d = await api.getDebuginfo();
    expect(d['cilium-version']).toMatch(/\d+\.\d+/);
    expect(d['endpoint-list']?.map((e) => e.id)).toContain(web.id);
    expect(d.subsystem?.maps).toMatch(/^cellium_lxc /m);
    expect(d['cilium-status']?.cilium?.state).toBe('Ok');
  });

  it('prefilter: list, update and delete with revisions, as `cilium prefilter` does', async () => {
    const start = await api.getPrefilter();
    expect(start.spec).toEqual({ revision: 1, deny: [] });
    const up = await api.patchPrefilter({ body: { deny: ['192.0.2.7/24'], revision: 0 } });
    expect(up.status?.realized).toEqual({ revision: 2, deny: ['192.0.2.0/24'] });
    const stale = await refusal(
      api.deletePrefilter({ body: { deny: ['192.0.2.0/24'], revision: 1 } }),
    );
    expect(stale.status).toBe(409);
    expect(stale.message).toContain('revision 2, not 1');
    const bad = await refusal(api.patchPrefilter({ body: { deny: ['192.0.2.300/24'] } }));
    expect(bad.status).toBe(461);
    const down = await api.deletePrefilter({ body: { deny: ['192.0.2.0/24'], revision: 2 } });
    expect(down.spec).toEqual({ revision: 3, deny: [] });
  });

  it('cgroup metadata lists the pods (no cgroup found for a fake container)', async () => {
    const dump = await api.getCgroupDumpMetadata();
    expect(dump['pod-metadatas']).toContainEqual({
      name: 'web',
      namespace: 'default',
      ips: [web.ip],
      containers: [],
    });
  });

  it('CNI DEL deletes by container id and releases the IP; batch delete by container id', async () => {
    await api.getConfig();
    await api.deleteEndpointID({ params: { id: `container-id:${web.cid}` } });
    expect((await refusal(api.getEndpointID({ params: { id: String(web.id) } }))).status).toBe(404);
    await api.postIpamIP({ params: { ip: web.ip }, query: { owner: 'default/again' } });
    await api.deleteIpamIP({ params: { ip: web.ip } });
    const db = await cniAdd('db');
    await api.deleteEndpoint({ body: { 'container-id': db.cid } });
    expect(await api.getEndpoint({ body: [] })).toEqual([]);
  });

  it("services as Cilium's CLI sends them: create, read, update states, delete", async () => {
    const body: Model<'ServiceSpec'> = {
      id: 5,
      'frontend-address': { ip: '10.96.0.5', port: 80, protocol: 'tcp', scope: 'external' },
      'backend-addresses': [{ ip: '10.77.0.50', port: 8080, state: 'active', weight: 100 }],
      flags: {
        type: 'ClusterIP',
        trafficPolicy: 'Cluster',
        extTrafficPolicy: 'Cluster',
        intTrafficPolicy: 'Cluster',
      },
    };
    await api.putServiceID({ params: { id: 5 }, body });
    const got = await api.getServiceID({ params: { id: 5 } });
    expect(got.status?.realized?.['backend-addresses']).toEqual([
      expect.objectContaining({ ip: '10.77.0.50', port: 8080, state: 'active' }),
    ]);
    // `cilium service update` with --states alone: updateServices across services.
    await api.putServiceID({
      params: { id: 0 },
      body: {
        'frontend-address': { ip: '0.0.0.0', port: 0 },
        'backend-addresses': [{ ip: '10.77.0.50', port: 8080, state: 'terminating' }],
        updateServices: true,
      },
    });
    const list = await api.getService();
    expect(list.map((x) => x.spec?.['backend-addresses']?.[0]?.state)).toEqual(['terminating']);
    await api.deleteServiceID({ params: { id: 5 } });
    expect((await refusal(api.getServiceID({ params: { id: 5 } }))).status).toBe(404);
  });

  it("policy as Cilium's CLI uses it: import (a JSON string), get, selectors, trace, delete", async () => {
    const rules = [
      {
        endpointSelector: { matchLabels: { 'any:app': 'db' } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { 'any:app': 'web' } }],
            toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }],
          },
        ],
        labels: [{ key: 'name', value: 'client-test', source: 'unspec' }],
      },
    ];
    const put = await api.putPolicy({ body: JSON.stringify(rules) });
    expect(put.revision).toBeGreaterThan(1);
    const got = await api.getPolicy({ body: ['name=client-test'] });
    expect(JSON.parse(got.policy ?? '[]')).toHaveLength(1);
    const selectors = await api.getPolicySelectors();
    expect(selectors.map((s) => s.selector)).toContain('{"matchLabels":{"any:app":"web"}}');
    const trace = await api.getPolicyResolve({
      body: {
        from: { labels: ['k8s:app=web'] },
        to: { labels: ['k8s:app=db'], dports: [{ port: 5432, protocol: 'TCP' }] },
      },
    });
    expect(trace.verdict).toBe('allowed');
    const del = await api.deletePolicy({ body: ['name=client-test'] });
    expect(del.revision).toBe((put.revision ?? 0) + 1);
  });

  it("metrics as Cilium's `metrics list` reads them: a list of {name, labels, value}", async () => {
    const metrics = await api.getMetrics();
    const ready = metrics.find(
      (m) => m.name === 'cellium_endpoint_state' && m.labels?.endpoint_state === 'ready',
    );
    expect(ready?.value).toBeGreaterThanOrEqual(0);
    for (const m of metrics) {
      expect(typeof m.name).toBe('string');
      expect(typeof m.value).toBe('number');
      expect(m.labels).toBeTypeOf('object');
    }
  });

  it('operations whose cell is not in the agent answer 501 naming the cell', async () => {
    const served = new Set(whole.hive.get(ApiRoutes).served());
    const calls: Partial<Record<OperationId, () => Promise<unknown>>> = {
      GetPolicy: () => api.getPolicy({ body: [] }),
      PutPolicy: () => api.putPolicy({ body: '[]' }),
      DeletePolicy: () => api.deletePolicy({ body: [] }),
      GetPolicySelectors: () => api.getPolicySelectors(),
      GetService: () => api.getService(),
      GetServiceID: () => api.getServiceID({ params: { id: 1 } }),
      PutServiceID: () =>
        api.putServiceID({
          params: { id: 1 },
          body: {
            id: 1,
            'frontend-address': { ip: '10.96.0.1', port: 80, protocol: 'tcp', scope: 'external' },
          },
        }),
      DeleteServiceID: () => api.deleteServiceID({ params: { id: 1 } }),
      GetLrp: () => api.getLrp(),
      GetFqdnCache: () => api.getFqdnCache(),
      DeleteFqdnCache: () => api.deleteFqdnCache(),
      GetFqdnCacheID: () => api.getFqdnCacheID({ params: { id: '1' } }),
      GetFqdnNames: () => api.getFqdnNames(),
      GetBgpPeers: () => api.getBgpPeers(),
      GetBgpRoutes: () =>
        api.getBgpRoutes({ query: { table_type: 'loc-rib', afi: 'ipv4', safi: 'unicast' } }),
      GetBgpRoutePolicies: () => api.getBgpRoutePolicies(),
      GetMetrics: () => api.getMetrics(),
    };
    for (const [op, call] of Object.entries(calls)) {
      if (served.has(op)) continue;
      const e = await refusal(call());
      expect(e.status, op).toBe(501);
      expect(e.message, op).toMatch(/cell/);
    }
  });

  it('BGP, off in this agent, answers 501 saying how to turn it on', async () => {
    for (const call of [
      () => api.getBgpPeers(),
      () =>
        api.getBgpRoutes({ query: { table_type: 'adj-rib-out', afi: 'ipv6', safi: 'unicast' } }),
      () => api.getBgpRoutePolicies({ query: { router_asn: 65001 } }),
    ]) {
      const e = await refusal(call());
      expect(e.status).toBe(501);
      expect(e.message).toMatch(/--enable-bgp-control-plane/);
    }
  });

  it('every operation of the spec was called', () => {
    expect(Object.keys(OPERATIONS).filter((op) => !api.sent.has(op))).toEqual([]);
  });
});
