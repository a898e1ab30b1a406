// Every operation the running agent serves answers Cilium's models whole: the reply validates
// against the spec's schema for its status, and no object or list the schema defines is left
// out at any depth (clients generated from Cilium's spec dereference them unchecked). An
// operation whose cell is not in the agent answers 501 naming that cell.
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadSpec, SpecValidator, type Model, type OperationSpec } from '../core/api/index.js';
import { provide } from '../core/hive/index.js';
import { freePort } from '../core/testing/ports.js';
import { testHive } from '../core/testing/test-hive.js';
import { agent } from '../cells/agent.js';
import { ApiRoutes } from '../cells/api/index.js';
import { HostLinks } from '../cells/endpoint/index.js';
import { MemoryLinks } from '../cells/endpoint/links.memory.js';
import { missingContainers, type Schema } from './support/spec-walk.js';

type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

interface Reply {
  readonly status: number;
  readonly text: string;
}

/** One request to the agent's socket, as Cilium's clients send it (body ends in a newline). */
function send(
  socketPath: string,
  method: string,
  path: string,
  opts: { readonly body?: unknown; readonly headers?: Record<string, string> } = {},
): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : `${JSON.stringify(opts.body)}\n`;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath,
        method,
        path: `/v1${path}`,
        headers: {
          host: 'localhost',
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** What the examples refer to: the endpoints and identities created before the walk. */
interface Ctx {
  endpoints: { id: number; containerId: string; ipv4: string; identity: number }[];
  prefilterRevision: number;
}

/** One example request of an operation and the status it must answer. */
interface Example {
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly status: number;
  /** The reply lists what the test created, so the walk looks inside its items. */
  readonly nonEmpty?: boolean;
  /** Keeps what later examples need from the reply. */
  readonly after?: (body: unknown, ctx: Ctx) => void;
}

const ep = (c: Ctx, i: number) => {
  const e = c.endpoints[i];
  if (!e) throw new Error(`endpoint ${i} was not created`);
  return e;
};

/**
 * Example requests by operation id, run in this order (reads first, then writes, deletions
 * last). Every operation the agent serves must have one.
 */
const EXAMPLES: readonly [string, (c: Ctx) => Example][] = [
  ['GetHealthz', () => ({ path: '/healthz', status: 200 })],
  ['GetConfig', () => ({ path: '/config', status: 200 })],
  ['GetDebuginfo', () => ({ path: '/debuginfo', status: 200 })],
  ['GetClusterNodes', () => ({ path: '/cluster/nodes', status: 200 })],
  ['GetNodeIds', () => ({ path: '/node/ids', status: 200 })],
  ['GetMetrics', () => ({ path: '/metrics/', status: 200, nonEmpty: true })],
  ['GetCgroupDumpMetadata', () => ({ path: '/cgroup-dump-metadata', status: 200 })],
  ['GetMap', () => ({ path: '/map', status: 200, nonEmpty: true })],
  ['GetMapName', () => ({ path: '/map/cellium_lxc', status: 200 })],
  [
    'GetMapNameEvents',
    // The endpoints' lxc entries were written as they were created: their events are there.
    () => ({ path: '/map/cellium_lxc/events?follow=false', status: 200, nonEmpty: true }),
  ],
  ['GetEndpoint', () => ({ path: '/endpoint', body: [], status: 200, nonEmpty: true })],
  ['GetEndpointID', (c) => ({ path: `/endpoint/${ep(c, 0).id}`, status: 200 })],
  [
    'GetEndpointIDConfig',
    (c) => ({ path: `/endpoint/container-id:${ep(c, 0).containerId}/config`, status: 200 }),
  ],
  ['GetEndpointIDLabels', (c) => ({ path: `/endpoint/${ep(c, 0).id}/labels`, status: 200 })],
  ['GetEndpointIDLog', (c) => ({ path: `/endpoint/${ep(c, 0).id}/log`, status: 200 })],
  ['GetEndpointIDHealthz', (c) => ({ path: `/endpoint/${ep(c, 1).id}/healthz`, status: 200 })],
  ['GetIdentity', () => ({ path: '/identity', body: [], status: 200, nonEmpty: true })],
  ['GetIdentityID', (c) => ({ path: `/identity/${ep(c, 0).identity}`, status: 200 })],
  ['GetIdentityEndpoints', () => ({ path: '/identity/endpoints', status: 200, nonEmpty: true })],
  ['GetIP', () => ({ path: '/ip', status: 200, nonEmpty: true })],
  // A service as Cilium's CLI creates it (reference §11), then read back.
  [
    'PutServiceID',
    () => ({
      path: '/service/5',
      body: {
        id: 5,
        'frontend-address': { ip: '10.96.0.5', port: 80, protocol: 'tcp', scope: 'external' },
        'backend-addresses': [{ ip: '10.77.0.60', port: 8080, state: 'active', weight: 100 }],
        flags: {
          type: 'ClusterIP',
          trafficPolicy: 'Cluster',
          extTrafficPolicy: 'Cluster',
          intTrafficPolicy: 'Cluster',
        },
      },
      status: 201,
    }),
  ],
  ['GetService', () => ({ path: '/service', status: 200, nonEmpty: true })],
  ['GetBgpPeers', () => ({ path: '/bgp/peers', status: 200, nonEmpty: true })],
  [
    'GetBgpRoutes',
    () => ({
      path: '/bgp/routes?table_type=loc-rib&afi=ipv4&safi=unicast',
      status: 200,
      nonEmpty: true,
    }),
  ],
  ['GetBgpRoutePolicies', () => ({ path: '/bgp/route-policies', status: 200, nonEmpty: true })],
  ['GetServiceID', () => ({ path: '/service/5', status: 200 })],
  [
    'GetPrefilter',
    () => ({
      path: '/prefilter',
      status: 200,
      after: (b, c) => {
        c.prefilterRevision = (b as { spec?: { revision?: number } }).spec?.revision ?? 0;
      },
    }),
  ],
  [
    'PatchPrefilter',
    (c) => ({
      path: '/prefilter',
      body: { revision: c.prefilterRevision, deny: ['198.51.100.0/24'] },
      status: 200,
      after: (b, c2) => {
        c2.prefilterRevision = (b as { spec?: { revision?: number } }).spec?.revision ?? 0;
      },
    }),
  ],
  [
    'DeletePrefilter',
    (c) => ({
      path: '/prefilter',
      body: { revision: c.prefilterRevision, deny: ['198.51.100.0/24'] },
      status: 200,
    }),
  ],
  [
    'PatchConfig',
    () => ({ path: '/config', body: { 'policy-enforcement': 'default' }, status: 200 }),
  ],
  // A rule as Cilium's CLI imports it (the body a JSON string of the rules), then read back.
  [
    'PutPolicy',
    () => ({
      path: '/policy',
      body: JSON.stringify([
        {
          endpointSelector: { matchLabels: { 'any:app': 'web-0' } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { 'any:app': 'web-1' } }],
              toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
            },
          ],
          labels: [{ key: 'name', value: 'models', source: 'unspec' }],
        },
      ]),
      status: 200,
    }),
  ],
  ['GetPolicy', () => ({ path: '/policy', body: [], status: 200 })],
  ['GetPolicySelectors', () => ({ path: '/policy/selectors', status: 200, nonEmpty: true })],
  [
    'GetPolicyResolve',
    () => ({
      path: '/policy/resolve',
      body: {
        from: { labels: ['k8s:app=web-1'] },
        to: { labels: ['k8s:app=web-0'], dports: [{ port: 80, protocol: 'TCP' }] },
      },
      status: 200,
    }),
  ],
  ['DeletePolicy', () => ({ path: '/policy', body: ['unspec:name=models'], status: 200 })],
  ['PostIpam', () => ({ path: '/ipam?owner=default%2Fspare', status: 201 })],
  ['PostIpamIP', () => ({ path: '/ipam/10.77.0.200?owner=default%2Fspare2', status: 200 })],
  ['DeleteIpamIP', () => ({ path: '/ipam/10.77.0.200', status: 200 })],
  [
    'PatchEndpointIDConfig',
    (c) => ({ path: `/endpoint/${ep(c, 0).id}/config`, body: {}, status: 200 }),
  ],
  [
    'PatchEndpointIDLabels',
    (c) => ({
      path: `/endpoint/${ep(c, 0).id}/labels`,
      body: { user: ['app=extra'] },
      status: 200,
    }),
  ],
  [
    'PatchEndpointID',
    (c) => ({
      path: `/endpoint/${ep(c, 1).id}`,
      body: { state: 'waiting-for-identity', addressing: { ipv4: ep(c, 1).ipv4 } },
      status: 200,
    }),
  ],
  // The set-up created two endpoints this way already; this is a third, on a free IP it claims.
  [
    'PutEndpointID',
    () => ({ path: '/endpoint/cilium-local:0', body: cniRequest(3, '10.77.0.150'), status: 201 }),
  ],
  ['DeleteEndpointID', (c) => ({ path: `/endpoint/${ep(c, 1).id}`, status: 200 })],
  [
    'DeleteEndpoint',
    (c) => ({ path: '/endpoint', body: { 'container-id': ep(c, 0).containerId }, status: 200 }),
  ],
  ['DeleteServiceID', () => ({ path: '/service/5', status: 200 })],
];

/** PUT /endpoint/cilium-local:0 as a CNI plugin sends it (reference §11). */
function cniRequest(n: number, ipv4: string, ifIndex = 0, uuid = '') {
  return {
    addressing: uuid === '' ? { ipv4 } : { ipv4, 'ipv4-expiration-uuid': uuid },
    'container-id': `container-${n}`,
    'host-mac': '02:00:00:00:01:ff',
    mac: `02:00:00:00:01:0${n}`,
    'interface-index': ifIndex,
    'interface-name': ifIndex === 0 ? '' : `lxc${n}`,
    'k8s-namespace': 'default',
    'k8s-pod-name': `pod-${n}`,
    labels: [`k8s:app=web-${n}`],
    state: 'waiting-for-identity',
    'sync-build-endpoint': true,
    'datapath-configuration': {},
  };
}

async function startAgent() {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-models-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const links = new MemoryLinks();
  const socket = join(dir, 'api.sock');
  const bgpFile = join(dir, 'bgp.json');
  writeFileSync(
    bgpFile,
    JSON.stringify({
      kind: 'CiliumBGPPeeringPolicy',
      metadata: { name: 'models' },
      spec: {
        virtualRouters: [
          {
            localASN: 65001,
            exportPodCIDR: true,
            neighbors: [{ peerAddress: '127.0.0.1', peerASN: 65000, peerPort: await freePort() }],
          },
        ],
      },
    }),
  );
  const h = testHive([agent], {
    flags: {
      'socket-path': socket,
      'state-dir': join(dir, 'state'),
      'bpf-root': join(dir, 'bpf'),
      'bpf-backend': 'memory',
      'agent-health-port': 0,
      // cellium-health stays on (its part of /healthz is walked) but without node IPs: no TCP
      // port 4240 on the host's address, no pings, nothing another test can collide with.
      'ipv4-node': '',
      'ipv6-node': '',
      'ipv4-range': '10.77.0.0/24',
      // Both families, so IPAM replies carry both address objects.
      'enable-ipv6': true,
      // The prefilter on, so its models are walked (in-memory maps: no XDP program is attached).
      'prefilter-device': 'eth-models',
      // BGP on with one neighbor nobody answers for (its session stays down), no listener.
      'enable-bgp-control-plane': true,
      'bgp-config': bgpFile,
      'bgp-router-id': '10.255.0.1',
      'bgp-listen-port': 0,
    },
    overrides: [provide(HostLinks, {}, () => links)],
  });
  await h.requireStart();
  const ctx: Ctx = { endpoints: [], prefilterRevision: 0 };
  // Two pods as a CNI plugin adds them: an IP with expiration, a veth, the endpoint.
  for (const n of [1, 2]) {
    const ipam = await send(socket, 'POST', `/ipam?owner=default%2Fpod-${n}`, {
      headers: { expiration: 'true' },
    });
    expect(ipam.status, ipam.text).toBe(201);
    const a = JSON.parse(ipam.text) as {
      address: { ipv4: string; 'ipv4-expiration-uuid': string };
    };
    const ifIndex = links.addVeth(`lxc${n}`);
    const body = cniRequest(n, a.address.ipv4, ifIndex, a.address['ipv4-expiration-uuid']);
    const put = await send(socket, 'PUT', '/endpoint/cilium-local:0', { body });
    expect(put.status, put.text).toBe(201);
    const e = JSON.parse(put.text) as { id: number; status: { identity: { id: number } } };
    ctx.endpoints.push({
      id: e.id,
      containerId: `container-${n}`,
      ipv4: a.address.ipv4,
      identity: e.status.identity.id,
    });
  }
  return { h, socket, ctx };
}

const spec = loadSpec();
const doc = spec.document;
const validator = new SpecValidator(spec);
const ajv = new Ajv({ strict: false, validateSchema: false });
addFormats(ajv);
ajv.addSchema({ ...doc, $id: 'spec' });
const mapEvent: Schema = { $ref: '#/components/schemas/MapEvent' };
const validMapEvent = ajv.compile({ $ref: 'spec#/components/schemas/MapEvent' });

/** What is wrong with one reply: schema violations and absent sub-objects, by JSON path. */
function problems(op: OperationSpec, ex: Example, reply: Reply): string[] {
  if (reply.status !== ex.status) return [`answered ${reply.status}: ${reply.text}`];
  const schema = op.responses.get(reply.status);
  if (schema === undefined) {
    return reply.text === '' ? [] : [`documented without a body, answered ${reply.text}`];
  }
  const streamed = schema.type === 'string' && schema.format === 'binary';
  if (streamed) {
    // A stream of MapEvent objects, one JSON document per line.
    const lines = reply.text.split('\n').filter((l) => l !== '');
    if (ex.nonEmpty && lines.length === 0) return ['the stream is empty'];
    return lines.flatMap((line, i) => {
      const v: unknown = JSON.parse(line);
      const bad = validMapEvent(v) ? [] : [`line ${i}: ${ajv.errorsText(validMapEvent.errors)}`];
      return [...bad, ...missingContainers(doc, mapEvent, v, `line ${i}`)];
    });
  }
  const body: unknown = JSON.parse(reply.text);
  const out: string[] = [];
  try {
    validator.for(op).response(reply.status, body);
  } catch (e) {
    out.push((e as Error).message);
  }
  out.push(
    ...missingContainers(doc, schema as Schema, body).map((p) => `missing ${p || '(root)'}`),
  );
  if (ex.nonEmpty && Array.isArray((body as { maps?: unknown }).maps ?? body)) {
    const list = ((body as { maps?: unknown[] }).maps ?? body) as unknown[];
    if (list.length === 0) out.push('the list is empty');
  }
  return out;
}

describe('API models', () => {
  it('every served operation answers its whole model; the others answer 501 naming their cell', async () => {
    const { h, socket, ctx } = await startAgent();
    const served = new Set(h.get(ApiRoutes).served());
    const examples = new Map(EXAMPLES);

    const noExample = [...served].filter((id) => !examples.has(id));
    expect(noExample, 'served operations without an example in EXAMPLES').toEqual([]);

    // Operations whose cell is not in this agent: 501 and the cell's name.
    for (const op of spec.operations.values()) {
      if (served.has(op.id)) continue;
      const path = op.path.replace(/\{[^}]+\}/g, '1');
      const r = await send(socket, op.method, path);
      expect(r.status, `${op.id}: ${r.text}`).toBe(501);
      // The server's own answer for any operation (not per operation in the spec): a JSON string.
      expect(JSON.parse(r.text), op.id).toContain(`'${op.cell}' cell`);
    }

    const failures: Record<string, string[]> = {};
    for (const [id, example] of EXAMPLES) {
      const op = spec.operations.get(id);
      expect(op, `EXAMPLES names ${id}, which the spec does not have`).toBeDefined();
      // An example for an operation nothing serves is stale (or its cell went missing).
      expect(served.has(id), `EXAMPLES names ${id}, which the agent does not serve`).toBe(true);
      if (!op) continue;
      const ex = example(ctx);
      const reply = await send(socket, op.method, ex.path, ex);
      const bad = problems(op, ex, reply);
      if (bad.length > 0) failures[`${op.method} ${ex.path} (${id})`] = bad;
      else if (ex.after && reply.text !== '') ex.after(JSON.parse(reply.text), ctx);
    }
    expect(failures).toEqual({});
  });

  it('fills the models with the agent’s real values', async () => {
    const { socket, ctx } = await startAgent();
    const get = async <T>(path: string): Promise<T> => {
      const r = await send(socket, 'GET', path);
      expect(r.status, r.text).toBe(200);
      return JSON.parse(r.text) as T;
    };
    type Status = Record<string, Record<string, unknown>> & {
      'kube-proxy-replacement': { mode: string; features: { nodePort: Record<string, unknown> } };
    };
    const s = await get<Status>('/healthz');
    expect(s['datapath-mode']).toBe('veth');
    expect(s['attach-mode']).toBe('tc');
    // The default routing mode is Cilium's: a VXLAN tunnel (made once another node is known).
    expect(s.routing).toEqual({
      'intra-host-routing-mode': 'BPF',
      'inter-host-routing-mode': 'Tunnel',
      'tunnel-protocol': 'vxlan',
    });
    expect(s['kube-proxy-replacement'].mode).toBe('False');
    expect(s['kube-proxy-replacement'].features.nodePort).toMatchObject({
      enabled: false,
      portMin: 30000,
      portMax: 32767,
    });
    expect(s.nodeMonitor?.cpus).toBe(cpus().length);
    expect(s['identity-range']).toEqual({ 'min-identity': 256, 'max-identity': 65535 });
    expect(s.encryption).toMatchObject({ mode: 'Disabled', wireguard: { interfaces: [] } });
    expect(s['cluster-mesh']).toEqual({ clusters: [], 'num-global-services': 0 });
    const ipam = s.ipam as { allocations: Record<string, string>; ipv4: string[] };
    for (const e of ctx.endpoints) {
      expect(ipam.ipv4).toContain(e.ipv4);
      expect(ipam.allocations[e.ipv4]).toMatch(/^default\/pod-\d$/);
    }
    expect((s['bpf-maps'] as { maps: { name: string }[] }).maps.map((m) => m.name)).toContain(
      'cellium_lxc',
    );
    // No probe is late; the local node is listed; every job is a controller with both parts.
    expect(s.stale).toEqual({});
    const cluster = s.cluster as { self: string; nodes: { name: string }[] };
    expect(cluster.nodes.map((n) => n.name)).toEqual([cluster.self]);
    const controllers = s.controllers as unknown as Model<'ControllerStatuses'>;
    expect(controllers.map((c) => c.name)).toEqual(
      expect.arrayContaining(['daemon-probe-bpf-maps', 'endpoint-reconcile-endpoints']),
    );
    for (const c of controllers) {
      expect(c.configuration, c.name).toMatchObject({ interval: expect.any(String) as unknown });
      expect(c.status, c.name).toMatchObject({
        'success-count': expect.any(Number) as unknown,
        'failure-count': expect.any(Number) as unknown,
        'consecutive-failure-count': 0,
      });
    }

    const c = await get<{ status: Record<string, unknown> }>('/config');
    const addressing = c.status.addressing as Record<string, Record<string, unknown>>;
    expect(addressing.ipv4).toEqual({
      enabled: true,
      ip: '10.77.0.1',
      'alloc-range': '10.77.0.0/24',
    });
    expect(addressing.ipv6).toMatchObject({ enabled: true, 'alloc-range': 'fd00:10:200::/112' });
    expect(c.status).toMatchObject({ datapathMode: 'veth', 'ipam-mode': 'cluster-pool' });
    expect((c.status.nodeMonitor as { cpus: number }).cpus).toBe(cpus().length);

    const e = await get<{ status: { policy: { realized: Record<string, unknown> } } }>(
      `/endpoint/${ep(ctx, 0).id}`,
    );
    expect(e.status.policy.realized).toMatchObject({
      id: ep(ctx, 0).identity,
      l4: { ingress: [], egress: [] },
      'cidr-policy': { ingress: [], egress: [] },
    });
  });
});
