import { describe, expect, it } from 'vitest';
import { backendsOf, translateSlice, type K8sSlice } from './k8s-slices.js';
import { translateService, type K8sService } from './k8s-translate.js';
import type { Translated } from './k8s-validate.js';

const ctx = { nodePort: true };

function ok<T>(t: Translated<T>): T {
  if (t.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(t)}`);
  return t.value;
}

function svc(spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name: 'web', namespace: 'shop', ...(extra.metadata as object) },
    spec: {
      clusterIP: '10.96.0.10',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      ...spec,
    },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

function slice(
  endpoints: unknown[],
  ports: unknown[] = [{ name: 'http', port: 8080, protocol: 'TCP' }],
  addressType = 'IPv4',
  name = 'web-abc',
) {
  return {
    metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType,
    ports,
    endpoints,
  };
}

const fes = (s: K8sService) =>
  s.frontends.map(
    (f) => `${f.type} ${f.address.ip}:${f.address.port}/${f.address.protocol} ${f.portName}`,
  );

describe('translateService', () => {
  it('makes a ClusterIP frontend per cluster IP (both families) and port, named namespace/name', () => {
    const s = ok(
      translateService(
        svc({
          clusterIPs: ['10.96.0.10', 'fd00::a'],
          ports: [
            { name: 'http', port: 80 },
            { name: 'dns', port: 53, protocol: 'UDP' },
            { name: 'sctp', port: 9, protocol: 'SCTP' },
          ],
        }),
        ctx,
      ),
    );
    expect(s.service.key).toBe('shop/web');
    expect(s.service.source).toBe('k8s');
    expect(fes(s)).toEqual([
      'ClusterIP 10.96.0.10:80/tcp http',
      'ClusterIP 10.96.0.10:53/udp dns',
      'ClusterIP fd00::a:80/tcp http',
      'ClusterIP fd00::a:53/udp dns',
    ]);
    // SCTP is not carried by the load balancer: no frontend, no backends asked for.
    expect(s.portNames).toEqual(['http', 'dns']);
  });

  it('adds NodePorts on 0.0.0.0 and :: per family, LoadBalancer ingress IPs and externalIPs', () => {
    const s = ok(
      translateService(
        svc(
          {
            type: 'LoadBalancer',
            clusterIPs: ['10.96.0.10', 'fd00::a'],
            ipFamilies: ['IPv4', 'IPv6'],
            ports: [{ name: 'http', port: 80, nodePort: 30080 }],
            externalIPs: ['192.0.2.7'],
            loadBalancerSourceRanges: ['198.51.100.9/24'],
          },
          {
            status: {
              loadBalancer: {
                ingress: [
                  { ip: '203.0.113.5' },
                  { hostname: 'lb.example' },
                  { ip: '203.0.113.6', ipMode: 'Proxy' },
                ],
              },
            },
          },
        ),
        ctx,
      ),
    );
    expect(fes(s)).toEqual([
      'ClusterIP 10.96.0.10:80/tcp http',
      'ClusterIP fd00::a:80/tcp http',
      'NodePort 0.0.0.0:30080/tcp http',
      'NodePort :::30080/tcp http',
      'LoadBalancer 203.0.113.5:80/tcp http',
      'ExternalIPs 192.0.2.7:80/tcp http',
    ]);
    expect(s.service.sourceRanges).toEqual(['198.51.100.0/24']);
    // Without NodePort on this node (no --enable-node-port / kube-proxy replacement): none.
    const off = ok(
      translateService(svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }), {
        nodePort: false,
      }),
    );
    expect(fes(off)).toEqual(['ClusterIP 10.96.0.10:80/tcp ']);
  });

  it('takes session affinity, its timeout and the traffic policies', () => {
    const s = ok(
      translateService(
        svc({
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
          externalTrafficPolicy: 'Local',
          internalTrafficPolicy: 'Local',
          healthCheckNodePort: 31000,
        }),
        ctx,
      ),
    ).service;
    expect([
      s.sessionAffinity,
      s.sessionAffinityTimeoutSec,
      s.extTrafficPolicy,
      s.intTrafficPolicy,
      s.healthCheckNodePort,
    ]).toEqual([true, 60, 'Local', 'Local', 31000]);
    const d = ok(translateService(svc({ sessionAffinity: 'ClientIP' }), ctx)).service;
    expect([d.sessionAffinityTimeoutSec, d.extTrafficPolicy, d.intTrafficPolicy]).toEqual([
      10800,
      'Cluster',
      'Cluster',
    ]);
    expect(ok(translateService(svc({}), ctx)).service.sessionAffinity).toBe(false);
  });

  it("keeps the Service's string labels (BGP's serviceSelector matches them)", () => {
    const labels = { bgp: 'announce', 'app.kubernetes.io/name': 'web', bad: 7 };
    const t = ok(translateService(svc({}, { metadata: { labels } }), ctx));
    expect(t.service.labels).toEqual({ bgp: 'announce', 'app.kubernetes.io/name': 'web' });
    expect(ok(translateService(svc({}), ctx)).service.labels).toEqual({});
  });

  it('skips headless and ExternalName services', () => {
    expect(translateService(svc({ clusterIP: 'None' }), ctx).kind).toBe('skip');
    expect(translateService(svc({ clusterIP: 'None', clusterIPs: ['None'] }), ctx).kind).toBe(
      'skip',
    );
    expect(
      translateService(
        svc({}, { metadata: { labels: { 'service.kubernetes.io/headless': '' } } }),
        ctx,
      ).kind,
    ).toBe('skip');
    expect(
      translateService(svc({ type: 'ExternalName', externalName: 'x.example' }), ctx).kind,
    ).toBe('skip');
  });

  it('knows topology aware services by annotation or trafficDistribution', () => {
    const a = (v: string) =>
      ok(
        translateService(
          svc({}, { metadata: { annotations: { 'service.kubernetes.io/topology-mode': v } } }),
          ctx,
        ),
      ).topologyAware;
    expect([a('Auto'), a('auto'), a('disabled'), a('Disabled'), a('')]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    expect(
      ok(translateService(svc({ trafficDistribution: 'PreferClose' }), ctx)).topologyAware,
    ).toBe(true);
    expect(ok(translateService(svc({}), ctx)).topologyAware).toBe(false);
  });

  it('refuses hostile values whole, naming the field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ clusterIP: '10.96.0.300' }, /spec\.clusterIPs\[0\].*not an IP/],
      [{ ports: [{ port: 70000 }] }, /spec\.ports\[0\]\.port is 70000/],
      [{ ports: [{ port: 80, protocol: 'ICMP' }] }, /protocol "ICMP"/],
      [{ ports: 'all' }, /spec\.ports is not a list/],
      [{ externalIPs: ['x'] }, /spec\.externalIPs\[0\]/],
      [{ loadBalancerSourceRanges: ['10.0.0.0/99'] }, /loadBalancerSourceRanges\[0\]/],
      [{ type: 'Weird' }, /spec\.type "Weird"/],
      [{ externalTrafficPolicy: 'Nearby' }, /externalTrafficPolicy "Nearby"/],
      [{ sessionAffinityConfig: { clientIP: { timeoutSeconds: -1 } } }, /timeoutSeconds is -1/],
    ];
    for (const [spec, re] of bad) {
      const t = translateService(svc(spec), ctx);
      expect(t.kind, JSON.stringify(spec)).toBe('invalid');
      if (t.kind === 'invalid') expect(t.problem).toMatch(re);
    }
    expect(translateService({ metadata: { name: 'x' } }, ctx).kind).toBe('invalid');
    expect(translateService({ metadata: { name: 'x', namespace: 'y' } }, ctx)).toEqual({
      kind: 'invalid',
      problem: 'spec is missing',
    });
    expect(translateService(null, ctx).kind).toBe('invalid');
  });
});

describe('translateSlice', () => {
  it('maps conditions: ready → active, serving and terminating → terminating, others left out', () => {
    const s = ok(
      translateSlice(
        slice([
          { addresses: ['10.1.0.1'], conditions: { ready: true }, nodeName: 'n1', zone: 'z1' },
          { addresses: ['10.1.0.2'] },
          {
            addresses: ['10.1.0.3'],
            conditions: { ready: false, serving: true, terminating: true },
          },
          {
            addresses: ['10.1.0.4'],
            conditions: { ready: false, serving: false, terminating: true },
          },
          { addresses: ['10.1.0.5'], conditions: { ready: false } },
        ]),
      ),
    );
    expect(s.serviceKey).toBe('shop/web');
    expect(s.endpoints.map((e) => `${e.ips.join()} ${e.state} ${e.nodeName} ${e.zone}`)).toEqual([
      '10.1.0.1 active n1 z1',
      '10.1.0.2 active  ',
      '10.1.0.3 terminating  ',
    ]);
  });

  it('skips FQDN slices and slices of no service, refuses hostile ones', () => {
    expect(translateSlice(slice([], [], 'FQDN')).kind).toBe('skip');
    expect(
      translateSlice({
        metadata: { name: 'x', namespace: 'y' },
        addressType: 'IPv4',
        endpoints: [],
      }).kind,
    ).toBe('skip');
    const bad: [unknown, RegExp][] = [
      [slice([{ addresses: ['fd00::1'] }]), /not an IPv4 address/],
      [slice([{ addresses: ['nope'] }]), /endpoints\[0\]\.addresses\[0\]/],
      [slice([{ addresses: [] }]), /addresses is empty/],
      [
        slice([{ addresses: ['10.1.0.1'], conditions: { ready: 'yes' } }]),
        /conditions\.ready is not a boolean/,
      ],
      [slice([], [{ port: -1 }]), /ports\[0\]\.port is -1/],
      [slice([], [], 'IPv5'), /addressType "IPv5"/],
      [{ ...slice([]), endpoints: 7 }, /endpoints is not a list/],
      // Past the API server's own limits (a broken or hostile source): refused whole, by name.
      [
        slice(
          Array.from({ length: 100_000 }, (_, i) => ({
            addresses: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`],
          })),
        ),
        /endpoints has 100000 entries, more than 1000/,
      ],
      [
        slice([{ addresses: Array.from({ length: 101 }, (_, i) => `10.1.0.${i}`) }]),
        /endpoints\[0\]\.addresses has 101 entries, more than 100/,
      ],
      [
        slice(
          [{ addresses: ['10.1.0.1'] }],
          [
            { name: 'http', port: 8080 },
            { name: 'http', port: 8081 },
          ],
        ),
        /ports\[1\]\.name "http" is used by another port/,
      ],
    ];
    for (const [o, re] of bad) {
      const t = translateSlice(o);
      expect(t.kind).toBe('invalid');
      if (t.kind === 'invalid') expect(t.problem).toMatch(re);
    }
  });
});

describe('backendsOf', () => {
  const service = ok(
    translateService(
      svc({
        ports: [
          { name: 'http', port: 80 },
          { name: 'metrics', port: 9090 },
        ],
      }),
      ctx,
    ),
  );
  const at = (m: Map<string, { ip: string; port: number; state: string }[]>, name: string) =>
    (m.get(name) ?? []).map((b) => `${b.ip}:${b.port} ${b.state}`).sort();
  const parse = (o: unknown): K8sSlice => ok(translateSlice(o));
  const noZone = { zone: '', topology: false };

  it('merges slices, matches port names, lists an address once with its best state', () => {
    const a = parse(
      slice(
        [
          { addresses: ['10.1.0.1'] },
          {
            addresses: ['10.1.0.2'],
            conditions: { ready: false, serving: true, terminating: true },
          },
        ],
        [
          { name: 'http', port: 8080 },
          { name: 'metrics', port: 9100 },
          { name: 'other', port: 1 },
        ],
      ),
    );
    const b = parse(
      slice(
        [{ addresses: ['10.1.0.2'] }, { addresses: ['10.1.0.3'] }],
        [{ name: 'http', port: 8080 }],
        'IPv4',
        'web-def',
      ),
    );
    const m = backendsOf(service, [a, b], noZone);
    expect([...m.keys()]).toEqual(['http', 'metrics']);
    expect(at(m, 'http')).toEqual([
      '10.1.0.1:8080 active',
      '10.1.0.2:8080 active',
      '10.1.0.3:8080 active',
    ]);
    // Only in slice a, terminating there; 10.1.0.1 is active, so it stays terminating.
    expect(at(m, 'metrics')).toEqual(['10.1.0.1:9100 active', '10.1.0.2:9100 terminating']);
  });

  it('uses serving terminating endpoints when a port has no ready one of that family', () => {
    const s = parse(
      slice([
        { addresses: ['10.1.0.2'], conditions: { ready: false, serving: true, terminating: true } },
        {
          addresses: ['10.1.0.3'],
          conditions: { ready: false, serving: false, terminating: true },
        },
      ]),
    );
    const v6 = parse(slice([{ addresses: ['fd00::5'] }], undefined, 'IPv6', 'web-v6'));
    expect(at(backendsOf(service, [s, v6], noZone), 'http')).toEqual([
      '10.1.0.2:8080 active',
      'fd00::5:8080 active',
    ]);
  });

  it("keeps a topology aware service's endpoints hinted for this node's zone", () => {
    const aware = ok(
      translateService(
        svc({}, { metadata: { annotations: { 'service.kubernetes.io/topology-mode': 'Auto' } } }),
        ctx,
      ),
    );
    const hinted = parse(
      slice([
        { addresses: ['10.1.0.1'], zone: 'a', hints: { forZones: [{ name: 'a' }] } },
        { addresses: ['10.1.0.2'], zone: 'b', hints: { forZones: [{ name: 'b' }] } },
      ]),
    );
    const on = { zone: 'a', topology: true };
    expect(at(backendsOf(aware, [hinted], on), 'http')).toEqual(['10.1.0.1:8080 active']);
    // Flag off, no annotation, zone unknown, a zone nobody serves: every endpoint.
    expect(at(backendsOf(aware, [hinted], noZone), 'http')).toHaveLength(2);
    expect(at(backendsOf(service, [hinted], on), 'http')).toHaveLength(2);
    expect(at(backendsOf(aware, [hinted], { zone: '', topology: true }), 'http')).toHaveLength(2);
    expect(at(backendsOf(aware, [hinted], { zone: 'c', topology: true }), 'http')).toHaveLength(2);
    // An endpoint without hints: no filtering (as kube-proxy).
    const partly = parse(
      slice([
        { addresses: ['10.1.0.1'], hints: { forZones: [{ name: 'a' }] } },
        { addresses: ['10.1.0.2'] },
      ]),
    );
    expect(at(backendsOf(aware, [partly], on), 'http')).toHaveLength(2);
  });
});
