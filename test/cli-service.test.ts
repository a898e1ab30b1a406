// `cellium service list|get|update|delete`: flags to Cilium's ServiceSpec and models to text as
// pure functions; the commands' requests and messages against a stub of the /v1/service routes;
// and round trips against a real agent.
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import {
  backendAddresses,
  parseHostPort,
  parseServiceId,
  serviceSpec,
  updatePlan,
  type UpdateOptions,
} from '../cells/cmd/cli/service-spec.js';
import {
  backendText,
  frontendText,
  readBackendLines,
  serviceListText,
  serviceText,
} from '../cells/cmd/cli/service.js';
import { cellium, celliumJson } from './support/cli.js';
import { program, run, startAgent, tempDir, type AgentProcess } from './support/procs.js';

type Service = Model<'Service'>;
type ServiceSpec = Model<'ServiceSpec'>;

const base: UpdateOptions = { id: '5', frontend: '10.0.0.1:80' };
const spec = (o: Partial<UpdateOptions>, backends: string[], realized?: ServiceSpec) =>
  serviceSpec(updatePlan({ ...base, ...o }), backends, realized);
const svc = (s: ServiceSpec): Service => ({ spec: s, status: { realized: s } });

describe('service ids and addresses', () => {
  it('parses ids as non-negative integers', () => {
    expect(parseServiceId('0')).toBe(0);
    expect(parseServiceId('65535')).toBe(65535);
    for (const bad of ['', '-1', '1.5', 'x', '0x10', '99999999999999999999']) {
      expect(() => parseServiceId(bad)).toThrow(`Unable to parse service ID: '${bad}'`);
    }
  });

  it('parses IP:PORT and [IPv6]:PORT into canonical IPs, IPv4-mapped IPv6 as IPv4', () => {
    expect(parseHostPort('10.0.0.1:80')).toEqual({ ip: '10.0.0.1', port: 80, v6: false });
    expect(parseHostPort('10.0.0.1:0')).toEqual({ ip: '10.0.0.1', port: 0, v6: false });
    expect(parseHostPort('[FD00:0:0::0:1]:65535')).toEqual({
      ip: 'fd00::1',
      port: 65535,
      v6: true,
    });
    expect(parseHostPort('[::ffff:10.1.2.3]:8')).toEqual({ ip: '10.1.2.3', port: 8, v6: false });
  });

  it.each([
    ['10.0.0.1', 'missing port in address'],
    ['fd00::1', 'too many colons in address'],
    ['fd00::1:80', 'too many colons in address'],
    ['[fd00::1]', 'missing port in address'],
    ['[fd00::1]80', 'missing port in address'],
    ['[fd00::1:80', "missing ']' in address"],
    ['10.0.0.1:65536', "invalid port '65536'"],
    ['10.0.0.1:http', "invalid port 'http'"],
    ['10.0.0.1:', "invalid port ''"],
    ['localhost:80', "'localhost' is not an IP address"],
    [':80', "'' is not an IP address"],
    ['10.0.0.256:80', "'10.0.0.256' is not an IP address"],
    ['[fe80::1%eth0]:80', "'fe80::1%eth0' is not an IP address"],
  ])('refuses %j: %s', (arg, why) => {
    expect(() => parseHostPort(arg)).toThrow(why);
  });

  it('formats frontends as IP:PORT/PROTO, IPv6 in brackets, /i for the internal scope', () => {
    expect(frontendText({ ip: '10.0.0.1', port: 80, protocol: 'tcp', scope: 'external' })).toBe(
      '10.0.0.1:80/TCP',
    );
    expect(frontendText({ ip: 'fd00::1', port: 53, protocol: 'udp' })).toBe('[fd00::1]:53/UDP');
    expect(frontendText({ ip: '10.0.0.1', protocol: 'any', scope: 'internal' })).toBe(
      '10.0.0.1:0/ANY/i',
    );
    expect(frontendText({ ip: '10.0.0.1', port: 80 })).toBe('10.0.0.1:80');
    expect(backendText({ ip: 'fd00::2', port: 8080 }, 'tcp')).toBe('[fd00::2]:8080/TCP');
    expect(backendText({ ip: '10.1.0.1' })).toBe('10.1.0.1:0');
  });
});

describe('service update: flags to the ServiceSpec it PUTs', () => {
  it("is Cilium's ServiceSpec, field for field and in order", () => {
    const body = spec({}, ['10.1.0.1:8080']);
    expect(JSON.stringify(body)).toBe(
      '{"id":5,"frontend-address":{"ip":"10.0.0.1","port":80,"protocol":"tcp","scope":"external"},' +
        '"backend-addresses":[{"ip":"10.1.0.1","port":8080,"state":"active","weight":100}],' +
        '"flags":{"type":"ClusterIP","trafficPolicy":"Cluster","extTrafficPolicy":"Cluster","intTrafficPolicy":"Cluster"}}',
    );
  });

  it('has no backend-addresses without backends and no port for an L3 address', () => {
    expect(spec({ frontend: '10.0.0.1:0' }, ['10.1.0.1:0'])).toEqual({
      id: 5,
      'frontend-address': { ip: '10.0.0.1', protocol: 'tcp', scope: 'external' },
      'backend-addresses': [{ ip: '10.1.0.1', state: 'active', weight: 100 }],
      flags: expect.any(Object) as unknown,
    });
    expect(spec({}, [])).not.toHaveProperty('backend-addresses');
  });

  it.each([
    ['k8sExternal', 'ExternalIPs'],
    ['k8sNodePort', 'NodePort'],
    ['k8sLoadBalancer', 'LoadBalancer'],
    ['k8sHostPort', 'HostPort'],
    ['localRedirect', 'LocalRedirect'],
    ['k8sClusterIp', 'ClusterIP'],
  ] as const)('the %s flag sets the type %s', (flag, type) => {
    expect(spec({ [flag]: true }, []).flags?.type).toBe(type);
  });

  it('refuses two type flags, naming them all', () => {
    expect(() => updatePlan({ ...base, k8sNodePort: true, localRedirect: true })).toThrow(
      'Can only set one of --k8s-external, --k8s-node-port, --k8s-load-balancer, --k8s-host-port, --local-redirect, --k8s-cluster-ip for a service',
    );
  });

  it('sets the scope internal with --k8s-cluster-internal, else external', () => {
    expect(spec({ k8sClusterInternal: true }, [])['frontend-address'].scope).toBe('internal');
    expect(spec({}, [])['frontend-address'].scope).toBe('external');
  });

  it('sets the traffic policies: trafficPolicy mirrors the external one', () => {
    expect(spec({ k8sExtTrafficPolicy: 'local' }, []).flags).toEqual({
      type: 'ClusterIP',
      trafficPolicy: 'Local',
      extTrafficPolicy: 'Local',
      intTrafficPolicy: 'Cluster',
    });
    expect(spec({ k8sTrafficPolicy: 'Local', k8sIntTrafficPolicy: 'LOCAL' }, []).flags).toEqual({
      type: 'ClusterIP',
      trafficPolicy: 'Local',
      extTrafficPolicy: 'Local',
      intTrafficPolicy: 'Local',
    });
    expect(
      spec({ k8sTrafficPolicy: 'cluster', k8sExtTrafficPolicy: 'Cluster' }, []).flags
        ?.extTrafficPolicy,
    ).toBe('Cluster');
    expect(() =>
      updatePlan({ ...base, k8sTrafficPolicy: 'Local', k8sExtTrafficPolicy: 'Cluster' }),
    ).toThrow('--k8s-traffic-policy Local and --k8s-ext-traffic-policy Cluster disagree');
    expect(() => updatePlan({ ...base, k8sIntTrafficPolicy: 'nearby' })).toThrow(
      "--k8s-int-traffic-policy must be Local or Cluster, not 'nearby'",
    );
  });

  it('takes the protocol (tcp by default), the name and the namespace', () => {
    expect(spec({ protocol: 'UDP' }, [])['frontend-address'].protocol).toBe('udp');
    expect(spec({ protocol: 'any' }, [])['frontend-address'].protocol).toBe('any');
    expect(() => updatePlan({ ...base, protocol: 'sctp' })).toThrow(
      "unrecognized protocol 'sctp' (tcp, udp or any)",
    );
    expect(spec({ name: 'web', namespace: 'shop' }, []).flags).toMatchObject({
      name: 'web',
      namespace: 'shop',
    });
  });

  it('refuses an id over 65535 and a frontend that is not IP:PORT, naming it', () => {
    expect(() => updatePlan({ ...base, id: '65536' })).toThrow(
      'Service ID 65536 exceeds the maximum limit of 65535',
    );
    expect(() => updatePlan({ ...base, id: 'five' })).toThrow("Unable to parse service ID: 'five'");
    expect(() => updatePlan({ ...base, frontend: 'web:80' })).toThrow(
      `Unable to parse frontend address "web:80": 'web' is not an IP address`,
    );
  });

  it('states: none is active, one is for all, else one per backend', () => {
    const states = (states: string[], n: number) =>
      backendAddresses(
        updatePlan({ ...base, states }),
        Array.from({ length: n }, (_, i) => `10.1.0.${i + 1}:80`),
      ).map((b) => b.state);
    expect(states([], 2)).toEqual(['active', 'active']);
    expect(states(['Maintenance'], 3)).toEqual(['maintenance', 'maintenance', 'maintenance']);
    expect(states(['terminating', 'quarantined'], 2)).toEqual(['terminating', 'quarantined']);
    expect(() => states(['active', 'terminating'], 3)).toThrow(
      'Invalid number of backend states (2: active,terminating) for backends (3: 10.1.0.1:80,10.1.0.2:80,10.1.0.3:80)',
    );
    expect(() => states(['sleeping'], 1)).toThrow('Invalid backend state (sleeping)');
  });

  it('weights: 100 by default, one is for all, else one per backend', () => {
    const weights = (backendWeights: string[], n: number) =>
      backendAddresses(
        updatePlan({ ...base, backendWeights }),
        Array.from({ length: n }, (_, i) => `10.1.0.${i + 1}:80`),
      ).map((b) => b.weight);
    expect(weights([], 2)).toEqual([100, 100]);
    expect(weights(['0'], 2)).toEqual([0, 0]);
    expect(weights(['1', '65535'], 2)).toEqual([1, 65535]);
    expect(() => weights(['1', '2'], 1)).toThrow(
      'Invalid number of backend weights (2: 1,2) for backends (1: 10.1.0.1:80)',
    );
    expect(() => weights(['-1'], 1)).toThrow('Invalid backend weight (-1)');
    expect(() => weights(['65536'], 1)).toThrow('Invalid backend weight (65536)');
  });

  it("Cellium's flags: backend nodes, session affinity, source ranges and the algorithm", () => {
    expect(
      spec(
        {
          k8sLoadBalancer: true,
          backendNodes: ['node-a', 'node-b'],
          sessionAffinityTimeout: '300',
          sourceRanges: ['192.0.2.0/24', 'fd00::/64'],
          lbAlgorithm: 'Maglev',
        },
        ['10.1.0.1:80', '10.1.0.2:80'],
      ),
    ).toMatchObject({
      'backend-addresses': [{ nodeName: 'node-a' }, { nodeName: 'node-b' }],
      flags: {
        type: 'LoadBalancer',
        sessionAffinity: true,
        sessionAffinityTimeout: 300,
        loadBalancerSourceRanges: ['192.0.2.0/24', 'fd00::/64'],
        algorithm: 'Maglev',
      },
    });
    const shown = serviceText(
      svc(
        spec(
          { sessionAffinityTimeout: '300', sourceRanges: ['192.0.2.0/24'], lbAlgorithm: 'maglev' },
          [],
        ),
      ),
    );
    expect(shown).toContain('Session Affinity:        ClientIP, 300s');
    expect(shown).toContain('Source Ranges:           192.0.2.0/24');
    expect(shown).toContain('Algorithm:               Maglev');
    const flags = spec({ sessionAffinityTimeout: '0' }, []).flags ?? {};
    expect(
      ['sessionAffinity', 'loadBalancerSourceRanges', 'algorithm'].filter((k) => k in flags),
    ).toEqual([]);
    expect(() => spec({ backendNodes: ['a', 'b'] }, ['10.1.0.1:80'])).toThrow(
      'Invalid number of backend nodes (2: a,b) for backends (1: 10.1.0.1:80)',
    );
    expect(() => spec({ sessionAffinityTimeout: '86401' }, [])).toThrow(
      'Invalid --session-affinity-timeout (86401)',
    );
    expect(() => spec({ sourceRanges: ['10.0.0.0/33'] }, [])).toThrow(
      "Invalid --source-ranges entry '10.0.0.0/33'",
    );
    expect(() => spec({ sourceRanges: ['example.com/8'] }, [])).toThrow(
      "Invalid --source-ranges entry 'example.com/8'",
    );
    expect(() => spec({ lbAlgorithm: 'roundrobin' }, [])).toThrow(
      "Invalid --lb-algorithm 'roundrobin': want random or maglev",
    );
  });

  it('refuses a backend that is not IP:PORT, IPv6 behind IPv4, and L4 behind L3', () => {
    expect(() => spec({}, ['10.1.0.1:80', 'db'])).toThrow(
      'Cannot parse backend address "db": missing port in address',
    );
    expect(() => spec({}, ['[fd00::2]:80'])).toThrow(
      'Address mismatch between frontend and backend [fd00::2]:80',
    );
    expect(spec({ frontend: '[fd00::1]:80' }, ['[fd00::2]:80', '10.1.0.1:80'])).toMatchObject({
      'frontend-address': { ip: 'fd00::1', port: 80 },
      'backend-addresses': [{ ip: 'fd00::2', port: 80 }, { ip: '10.1.0.1' }],
    });
    expect(() => spec({ frontend: '10.0.0.1:0' }, ['10.1.0.1:8080'])).toThrow(
      'L4 backend found (10.1.0.1:8080) with L3 frontend',
    );
    expect(() => spec({ frontend: '[fd00::1]:0' }, ['[fd00::2]:53'])).toThrow(
      'L4 backend found ([fd00::2]:53) with L3 frontend',
    );
  });

  it('starts from the realized spec of an existing service, replacing what the flags say', () => {
    const realized: ServiceSpec = {
      id: 5,
      'frontend-address': { ip: '10.0.0.9', port: 81, protocol: 'udp', scope: 'internal' },
      'backend-addresses': [{ ip: '10.9.0.1', port: 1, state: 'active', weight: 100 }],
      flags: {
        type: 'LoadBalancer',
        extTrafficPolicy: 'Local',
        name: 'old',
        namespace: 'ns',
        healthCheckNodePort: 3,
        loadBalancerSourceRanges: ['10.0.0.0/8'],
        sessionAffinity: true,
        sessionAffinityTimeout: 60,
        algorithm: 'Maglev',
      },
      updateServices: false,
    };
    // Type and policies as the flags say (Cilium's CLI); what only this CLI's flags set stays.
    expect(spec({ k8sNodePort: true }, [], realized)).toEqual({
      id: 5,
      'frontend-address': { ip: '10.0.0.1', port: 80, protocol: 'tcp', scope: 'external' },
      flags: {
        type: 'NodePort',
        trafficPolicy: 'Cluster',
        extTrafficPolicy: 'Cluster',
        intTrafficPolicy: 'Cluster',
        name: 'old',
        namespace: 'ns',
        loadBalancerSourceRanges: ['10.0.0.0/8'],
        sessionAffinity: true,
        sessionAffinityTimeout: 60,
        algorithm: 'Maglev',
      },
      updateServices: false,
    });
    expect(spec({ name: 'new', lbAlgorithm: 'random' }, [], realized).flags).toMatchObject({
      name: 'new',
      algorithm: 'Random',
    });
  });

  it('reads backends one per line, blank lines skipped', async () => {
    expect(
      await readBackendLines(Readable.from(['10.1.0.1:80\n\n  10.1.0.2:80 \r\n', '[fd00::1]:8'])),
    ).toEqual(['10.1.0.1:80', '10.1.0.2:80', '[fd00::1]:8']);
    expect(await readBackendLines(Readable.from([]))).toEqual([]);
  });
});

describe('service list and get: models to text', () => {
  const web: ServiceSpec = {
    id: 12,
    'frontend-address': { ip: '10.96.0.10', port: 443, protocol: 'tcp', scope: 'external' },
    'backend-addresses': [
      { ip: '10.1.0.1', port: 8443, state: 'active', weight: 100 },
      { ip: '10.1.0.2', port: 8443, state: 'terminating', weight: 100 },
    ],
    flags: {
      type: 'ClusterIP',
      extTrafficPolicy: 'Cluster',
      intTrafficPolicy: 'Cluster',
      healthCheckNodePort: 0,
    },
  };
  const dns: ServiceSpec = {
    id: 3,
    'frontend-address': { ip: 'fd00::a', port: 53, protocol: 'udp', scope: 'internal' },
    'backend-addresses': [{ ip: 'fd00::1:5', port: 53, state: 'maintenance', weight: 0 }],
    flags: {
      type: 'NodePort',
      extTrafficPolicy: 'Local',
      intTrafficPolicy: 'Cluster',
      name: 'dns',
      namespace: 'kube-system',
      cluster: 'east',
    },
  };
  const empty: ServiceSpec = {
    id: 7,
    'frontend-address': { ip: '10.0.0.7', port: 80, protocol: 'tcp', scope: 'external' },
    flags: { type: 'LoadBalancer' },
  };

  it('list: one row per backend, numbered with its state, the services by id', () => {
    expect(serviceListText([svc(web), { spec: empty }, svc(dns)])).toBe(
      [
        'ID   Frontend             Service Type        Backend',
        '3    [fd00::a]:53/UDP/i   NodePort (Remote)   1 => [fd00::1:5]:53/UDP (maintenance)',
        '7    10.0.0.7:80/TCP      LoadBalancer',
        '12   10.96.0.10:443/TCP   ClusterIP           1 => 10.1.0.1:8443/TCP (active)',
        '                                              2 => 10.1.0.2:8443/TCP (terminating)',
      ].join('\n'),
    );
    expect(serviceListText([])).toBe('ID   Frontend   Service Type   Backend');
    expect(serviceListText([{}])).toBe('ID   Frontend   Service Type   Backend');
  });

  it('get: the realized spec, one field a line, then the backends', () => {
    expect(serviceText(svc(web))).toBe(
      [
        'ID:                      12',
        'Frontend:                10.96.0.10:443/TCP',
        'Scope:                   external',
        'Service Type:            ClusterIP',
        'External Traffic Policy: Cluster',
        'Internal Traffic Policy: Cluster',
        'Backends:',
        '  1 => 10.1.0.1:8443/TCP (active, weight 100)',
        '  2 => 10.1.0.2:8443/TCP (terminating, weight 100)',
      ].join('\n'),
    );
    expect(
      serviceText(
        svc({
          ...dns,
          'backend-addresses': [
            { ip: 'fd00::1:5', port: 53, preferred: true, nodeName: 'n1', zone: 'z' },
          ],
          flags: { ...dns.flags, natPolicy: 'Nat64', healthCheckNodePort: 31000 },
        }),
      ),
    ).toBe(
      [
        'ID:                      3',
        'Frontend:                [fd00::a]:53/UDP/i',
        'Scope:                   internal',
        'Service Type:            NodePort (Remote)',
        'External Traffic Policy: Local',
        'Internal Traffic Policy: Cluster',
        'NAT Policy:              Nat64',
        'Health Check Node Port:  31000',
        'Name:                    kube-system/dns',
        'Cluster:                 east',
        'Backends:',
        '  1 => [fd00::1:5]:53/UDP (active, weight 100, node n1, zone z)',
      ].join('\n'),
    );
    expect(serviceText({ spec: empty })).toBe(
      [
        'ID:                      7',
        'Frontend:                10.0.0.7:80/TCP',
        'Scope:                   external',
        'Service Type:            LoadBalancer',
        'Backends:                none',
      ].join('\n'),
    );
    expect(serviceText({})).toBe('Service has no spec');
  });
});

/** What the stub of the agent's /v1/service routes was asked. */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

/**
 * The /v1/service routes as Cilium's agent answers them (201 created, 200 updated, 404 with a
 * JSON string, 460 for a frontend it refuses: here 0.0.0.0), on a unix socket, to see what the
 * commands send and print without the loadbalancer cell.
 */
async function serviceStub(): Promise<{
  socket: string;
  seen: Seen[];
  services: Map<number, Service>;
  close(): Promise<void>;
}> {
  const services = new Map<number, Service>();
  const seen: Seen[] = [];
  const socket = join(tempDir(), 'stub.sock');
  const answer = (method: string, path: string, body: unknown): [number, unknown?] => {
    if (path === '/v1/service' && method === 'GET') return [200, [...services.values()]];
    const id = Number(/^\/v1\/service\/(\d+)$/.exec(path)?.[1] ?? NaN);
    const have = services.get(id);
    const missing: [number, string] = [404, `service ${id} not found`];
    if (method === 'GET') return have ? [200, have] : missing;
    if (method === 'DELETE') return services.delete(id) ? [200] : missing;
    const spec = body as ServiceSpec;
    if (spec['frontend-address'].ip === '0.0.0.0') return [460, 'invalid frontend 0.0.0.0'];
    services.set(id, { spec, status: { realized: spec } });
    return [have ? 200 : 201];
  };
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const body: unknown = text === '' ? undefined : JSON.parse(text);
      const [method, path] = [req.method ?? '', req.url ?? ''];
      seen.push({ method, path, ...(body === undefined ? {} : { body }) });
      const [status, out] = answer(method, path, body);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(out === undefined ? '' : JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    socket,
    seen,
    services,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('cellium service against a stub of the /v1/service routes', () => {
  let stub: Awaited<ReturnType<typeof serviceStub>>;
  beforeEach(async () => {
    stub = await serviceStub();
  });
  afterEach(() => stub.close());
  const cli = (line: string) => cellium(stub.socket, ...line.split(' '));
  const json = <T>(line: string) => celliumJson<T>(stub.socket, ...line.split(' '));

  it('update: asks for the service, then PUTs the spec; created, then updated', async () => {
    const added = await cli(
      'service update --id 5 --frontend 10.0.0.1:80 --backends 10.1.0.1:8080,10.1.0.2:8080',
    );
    expect(added).toEqual({
      code: 0,
      stdout: "Creating new service with id '5'\nAdded service with 2 backends\n",
      stderr: '',
    });
    expect(stub.seen).toEqual([
      { method: 'GET', path: '/v1/service/5' },
      {
        method: 'PUT',
        path: '/v1/service/5',
        body: {
          id: 5,
          'frontend-address': { ip: '10.0.0.1', port: 80, protocol: 'tcp', scope: 'external' },
          'backend-addresses': [
            { ip: '10.1.0.1', port: 8080, state: 'active', weight: 100 },
            { ip: '10.1.0.2', port: 8080, state: 'active', weight: 100 },
          ],
          flags: {
            type: 'ClusterIP',
            trafficPolicy: 'Cluster',
            extTrafficPolicy: 'Cluster',
            intTrafficPolicy: 'Cluster',
          },
        },
      },
    ]);
    const updated = await cli(
      'service update --id 5 --frontend 10.0.0.1:80 --backends 10.1.0.3:8080 --states maintenance --k8s-node-port',
    );
    expect(updated.stdout).toBe(
      "Updating existing service with id '5'\nUpdated service with 1 backends\n",
    );
    expect(stub.services.get(5)?.spec).toMatchObject({
      'backend-addresses': [{ ip: '10.1.0.3', port: 8080, state: 'maintenance', weight: 100 }],
      flags: { type: 'NodePort' },
    });
  });

  it('update -o json: the service as the agent now has it, the progress on stderr', async () => {
    const r = await cli(
      '-o json service update --id 6 --frontend [fd00::1]:53 --protocol udp --backends [fd00::2]:53',
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("Creating new service with id '6'\n");
    expect((JSON.parse(r.stdout) as Service).status?.realized?.['frontend-address']).toEqual({
      ip: 'fd00::1',
      port: 53,
      protocol: 'udp',
      scope: 'external',
    });
  });

  it("update: a flag error sends nothing; the agent's refusal is its message, exit 1", async () => {
    const bad = await cli(
      'service update --id 5 --frontend 10.0.0.1:80 --backends 10.1.0.1:80 --states active,active',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'Error: Invalid number of backend states (2: active,active) for backends (1: 10.1.0.1:80)\n',
    );
    const two = await cli(
      'service update --id 5 --frontend 10.0.0.1:80 --k8s-external --k8s-host-port',
    );
    expect(two.stderr).toMatch(/^Error: Can only set one of /);
    expect(stub.seen.filter((s) => s.method === 'PUT')).toEqual([]);
    const refused = await cli('service update --id 5 --frontend 0.0.0.0:80 --backends 10.1.0.1:80');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'Error: Cannot add/update service: PUT /v1/service/5: 460: invalid frontend 0.0.0.0\n',
    );
    expect((await cli('service update --frontend 10.0.0.1:80')).code).not.toBe(0);
  });

  it('update without --backends reads them from stdin, one per line', async () => {
    const r = await run(
      [
        ...program('cellium'),
        '-H',
        `unix://${stub.socket}`,
        ...'service update --id 7 --frontend 10.0.0.7:80'.split(' '),
      ],
      {},
      '10.1.0.1:80\n10.1.0.2:80\n',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      "Creating new service with id '7'\nReading backend list from stdin...\nAdded service with 2 backends\n",
    );
    expect(stub.services.get(7)?.spec?.['backend-addresses']?.map((b) => b.ip)).toEqual([
      '10.1.0.1',
      '10.1.0.2',
    ]);
  });

  it('list, get and delete: text, -o json, and a missing id named', async () => {
    for (const [id, fe] of [
      ['9', '10.0.0.9:80'],
      ['2', '10.0.0.2:80'],
    ] as const) {
      await cli(`service update --id ${id} --frontend ${fe} --backends 10.1.0.1:8080`);
    }
    const list = await cli('service ls');
    expect(list.stdout).toBe(
      [
        'ID   Frontend          Service Type   Backend',
        '2    10.0.0.2:80/TCP   ClusterIP      1 => 10.1.0.1:8080/TCP (active)',
        '9    10.0.0.9:80/TCP   ClusterIP      1 => 10.1.0.1:8080/TCP (active)',
        '',
      ].join('\n'),
    );
    expect(await json('service list')).toEqual([...stub.services.values()]);
    expect((await cli('service get 2')).stdout).toMatch(
      /^ID: +2\nFrontend: +10\.0\.0\.2:80\/TCP\n/,
    );
    expect(await json('service get 9')).toEqual(stub.services.get(9));
    const missing = await cli('service get 4');
    expect(missing).toEqual({
      code: 1,
      stdout: '',
      stderr: "Error: Cannot get service '4': GET /v1/service/4: 404: service 4 not found\n",
    });
    expect((await cli('service get x')).stderr).toBe("Error: Unable to parse service ID: 'x'\n");
    expect((await cli('service delete 9')).stdout).toBe('Service 9 deleted successfully\n');
    const again = await cli('service delete 9');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      "Error: Cannot delete service '9': DELETE /v1/service/9: 404: service 9 not found\n",
    );
    expect((await cli('service delete')).code).toBe(1);
    expect((await cli('service delete 2 --all')).code).toBe(1);
    await cli('service update --id 3 --frontend 10.0.0.3:80 --backends 10.1.0.1:80');
    expect(await json('service delete --all')).toEqual({
      deleted: [2, 3],
    });
    expect(stub.services.size).toBe(0);
    expect(await cli('service delete --all')).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('cellium service with a running agent', () => {
  let agent: AgentProcess;
  beforeEach(async () => {
    agent = await startAgent();
  });
  const cli = (line: string) => cellium(agent.socket, ...line.split(' '));
  const json = <T>(line: string) => celliumJson<T>(agent.socket, ...line.split(' '));

  it('update creates, then updates; list and get show what the agent realized', async () => {
    const added = await cli(
      'service update --id 5 --frontend 10.0.0.1:80 --backends 10.1.0.1:8080,10.1.0.2:8080 --states active,maintenance',
    );
    expect(added).toEqual({
      code: 0,
      stdout: "Creating new service with id '5'\nAdded service with 2 backends\n",
      stderr: '',
    });
    const svc = await json<Service>('service get 5');
    expect(svc.status?.realized).toMatchObject({
      id: 5,
      'frontend-address': { ip: '10.0.0.1', port: 80, protocol: 'tcp', scope: 'external' },
      'backend-addresses': [
        { ip: '10.1.0.1', port: 8080, state: 'active' },
        { ip: '10.1.0.2', port: 8080, state: 'maintenance' },
      ],
      flags: { type: 'ClusterIP', extTrafficPolicy: 'Cluster', intTrafficPolicy: 'Cluster' },
    });
    const list = await cli('service list');
    expect(list.stdout).toMatch(/^ID +Frontend +Service Type +Backend\n/);
    expect(list.stdout).toMatch(
      /^5 +10\.0\.0\.1:80\/TCP +ClusterIP +1 => 10\.1\.0\.1:8080\/TCP \(active\)$/m,
    );
    expect(list.stdout).toMatch(/^ +2 => 10\.1\.0\.2:8080\/TCP \(maintenance\)$/m);
    expect((await cli('service get 5')).stdout).toMatch(/^Frontend: +10\.0\.0\.1:80\/TCP$/m);
    const updated = await cli(
      'service update --id 5 --frontend 10.0.0.1:80 --backends 10.1.0.3:8080 --k8s-node-port --k8s-ext-traffic-policy Local',
    );
    expect(updated.stdout).toBe(
      "Updating existing service with id '5'\nUpdated service with 1 backends\n",
    );
    expect((await json<Service>('service get 5')).status?.realized).toMatchObject({
      'backend-addresses': [{ ip: '10.1.0.3', port: 8080 }],
      flags: { type: 'NodePort', extTrafficPolicy: 'Local' },
    });
    const all = await json<Service[]>('service list');
    expect(all.map((s) => s.status?.realized?.id)).toEqual([5]);
  });

  it('update reads the backends from stdin; IPv6 frontends in brackets', async () => {
    const r = await run(
      [
        ...program('cellium'),
        '-H',
        `unix://${agent.socket}`,
        ...'service update --id 6 --frontend [fd00::1]:53 --protocol udp'.split(' '),
      ],
      {},
      '[fd00::2]:53\n',
    );
    expect(r.stdout).toBe(
      "Creating new service with id '6'\nReading backend list from stdin...\nAdded service with 1 backends\n",
    );
    expect((await cli('service list')).stdout).toMatch(
      /^6 +\[fd00::1\]:53\/UDP +ClusterIP +1 => \[fd00::2\]:53\/UDP \(active\)$/m,
    );
  });

  it('get and delete name a missing id; delete removes one, --all the rest', async () => {
    const missing = await cli('service get 42');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: Cannot get service '42': GET \/v1\/service\/42: 404: /);
    const gone = await cli('service delete 42');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(
      /^Error: Cannot delete service '42': DELETE \/v1\/service\/42: 404: /,
    );
    for (const id of ['1', '2', '3']) {
      await cli(`service update --id ${id} --frontend 10.0.0.${id}:80 --backends 10.1.0.1:80`);
    }
    expect((await cli('service delete 2')).stdout).toBe('Service 2 deleted successfully\n');
    expect((await cli('service delete --all')).stdout).toBe(
      'Service 1 deleted successfully\nService 3 deleted successfully\n',
    );
    expect(await json('service list')).toEqual([]);
  });

  it("shows the agent's refusal of a frontend (460) or a backend (461), exit 1", async () => {
    const fe = await cli('service update --id 8 --frontend 0.0.0.0:80 --backends 10.1.0.1:80');
    expect(fe.code).toBe(1);
    expect(fe.stderr).toMatch(/^Error: Cannot add\/update service: PUT \/v1\/service\/8: 460: \S/);
    const be = await cli('service update --id 9 --frontend 10.0.0.9:80 --backends 0.0.0.0:80');
    expect(be.code).toBe(1);
    expect(be.stderr).toMatch(/^Error: Cannot add\/update service: PUT \/v1\/service\/9: 461: \S/);
    expect(await json('service list')).toEqual([]);
  });
});
