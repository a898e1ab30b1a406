import { describe, expect, it } from 'vitest';
import { PolicyError, parseRuleObjects, parseRules, type ParseOptions } from './rules.js';

/** The message of the PolicyError that parsing `input` throws. */
function failure(input: unknown, opts?: ParseOptions): string {
  try {
    if (typeof input === 'string') parseRules(input, opts);
    else parseRuleObjects(input, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as Error).message;
  }
  throw new Error('parsed without an error');
}

/** The single ingress element of a bare rule with the given element. */
function ingress(el: unknown) {
  return parseRuleObjects({ endpointSelector: {}, ingress: [el] })[0]!.ingress[0]!;
}

/** The single egress element of a bare rule with the given element. */
function egress(el: unknown) {
  return parseRuleObjects({ endpointSelector: {}, egress: [el] })[0]!.egress[0]!;
}

describe('parseRules: peer rules', () => {
  it('rejects unknown fields, naming them', () => {
    expect(failure({ endpointSelector: {}, ingres: [] })).toMatch(
      /^rule 0: ingres: unknown field \(expected endpointSelector, /,
    );
    expect(failure({ endpointSelector: {}, ingress: [{ toEndpoints: [{}] }] })).toMatch(
      /^rule 0: ingress\[0\]\.toEndpoints: unknown field/,
    );
    expect(failure({ endpointSelector: {}, egress: [{ fromCIDR: ['10.0.0.0/8'] }] })).toMatch(
      /egress\[0\]\.fromCIDR: unknown field/,
    );
    expect(
      failure({
        endpointSelector: {},
        egress: [{ toPorts: [{ ports: [{ port: 1, proto: 'TCP' }] }] }],
      }),
    ).toMatch(/egress\[0\]\.toPorts\[0\]\.ports\[0\]\.proto: unknown field/);
    expect(failure({ endpointSelector: { matchLabels: { a: 'b' }, foo: 1 } })).toMatch(
      /^rule 0: endpointSelector\.foo: unknown field/,
    );
  });

  it('rejects every feature this agent does not have, with the reason', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ ingress: [{ fromRequires: [{}] }] }, 'ingress[0].fromRequires', /not supported/],
      [{ egress: [{ toRequires: [{}] }] }, 'egress[0].toRequires', /not supported/],
      [{ egress: [{ toServices: [{}] }] }, 'egress[0].toServices', /service/],
      [{ egress: [{ toFQDNs: [{ matchName: 'a.com' }] }] }, 'egress[0].toFQDNs', /DNS proxy/],
      [{ egress: [{ toGroups: [{}] }] }, 'egress[0].toGroups', /cloud provider/],
      [{ ingress: [{ fromGroups: [{}] }] }, 'ingress[0].fromGroups', /cloud provider/],
      [{ ingress: [{ fromNodes: [{}] }] }, 'ingress[0].fromNodes', /not supported/],
      [{ egress: [{ toNodes: [{}] }] }, 'egress[0].toNodes', /not supported/],
      [
        { ingress: [{ authentication: { mode: 'required' } }] },
        'ingress[0].authentication',
        /SPIRE/,
      ],
      [
        { ingress: [{ toPorts: [{ ports: [{ port: 80 }], rules: { http: [{}] } }] }] },
        'ingress[0].toPorts[0].rules',
        /^L7 rules need a proxy, which this agent does not have$/,
      ],
      [
        { ingressDeny: [{ toPorts: [{ ports: [{ port: 80 }], rules: {} }] }] },
        'ingressDeny[0].toPorts[0].rules',
        /L7 rules need a proxy/,
      ],
      [
        { egress: [{ toPorts: [{ ports: [{ port: 443 }], serverNames: ['a.com'] }] }] },
        'egress[0].toPorts[0].serverNames',
        /proxy/,
      ],
      [
        { egress: [{ toPorts: [{ ports: [{ port: 443 }], listener: { name: 'l' } }] }] },
        'egress[0].toPorts[0].listener',
        /Envoy/,
      ],
      [
        { egress: [{ toPorts: [{ ports: [{ port: 443 }], originatingTLS: {} }] }] },
        'egress[0].toPorts[0].originatingTLS',
        /TLS/,
      ],
      [
        { egress: [{ toPorts: [{ ports: [{ port: 443 }], terminatingTLS: {} }] }] },
        'egress[0].toPorts[0].terminatingTLS',
        /TLS/,
      ],
      [
        { egress: [{ toPorts: [{ ports: [{ port: 'https' }] }] }] },
        'egress[0].toPorts[0].ports[0].port',
        /named port/,
      ],
      [
        { egress: [{ toCIDRSet: [{ cidrGroupRef: 'g' }] }] },
        'egress[0].toCIDRSet[0].cidrGroupRef',
        /CiliumCIDRGroup/,
      ],
    ];
    for (const [fields, path, reason] of cases) {
      const msg = failure({ endpointSelector: {}, ...(fields as object) });
      expect(msg.startsWith(`rule 0: ${path}: `), msg).toBe(true);
      expect(msg.slice(`rule 0: ${path}: `.length)).toMatch(reason);
    }
  });

  it('reads deny sections like the allow ones', () => {
    const [r] = parseRuleObjects({
      endpointSelector: {},
      ingressDeny: [
        { fromEntities: ['world'], toPorts: [{ ports: [{ port: 22, protocol: 'TCP' }] }] },
      ],
      egressDeny: [{ toCIDR: ['1.1.1.1'] }],
    });
    expect(r!.ingressDeny).toEqual([
      {
        endpoints: [],
        cidrs: [],
        entities: ['world'],
        ports: [{ port: 22, endPort: 22, protocol: 'TCP' }],
        icmps: [],
      },
    ]);
    expect(r!.egressDeny[0]!.cidrs).toEqual([{ cidr: '1.1.1.1/32', except: [] }]);
    expect(r!.ingress).toEqual([]);
    expect(r!.egress).toEqual([]);
  });

  it('limits the number of peer rules and ports', () => {
    expect(
      failure({ endpointSelector: {}, ingress: Array.from({ length: 1001 }, () => ({})) }),
    ).toMatch(/ingress: has 1001 entries, more than 1000/);
    const ports = Array.from({ length: 600 }, (_, i) => ({ port: i + 1 }));
    expect(
      failure({ endpointSelector: {}, ingress: [{ toPorts: [{ ports }, { ports }] }] }),
    ).toMatch(/ingress\[0\]\.toPorts: lists more than 1000 ports/);
  });
});

describe('parseRules: CIDRs and entities', () => {
  it('normalizes CIDRs and bare IPs, with excepts', () => {
    const r = ingress({
      fromCIDR: ['10.1.2.3/8', '192.168.1.1', '2001:DB8::1/32', 'fd00::5'],
      fromCIDRSet: [
        { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4'] },
        { cidr: '0.0.0.0/0' },
        { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] },
      ],
    });
    expect(r.cidrs).toEqual([
      { cidr: '10.0.0.0/8', except: [] },
      { cidr: '192.168.1.1/32', except: [] },
      { cidr: '2001:db8::/32', except: [] },
      { cidr: 'fd00::5/128', except: [] },
      { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] },
      { cidr: '0.0.0.0/0', except: [] },
      { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] },
    ]);
    expect(egress({ toCIDR: ['8.8.8.8/32'] }).cidrs).toEqual([{ cidr: '8.8.8.8/32', except: [] }]);
  });

  it('rejects bad CIDRs and excepts outside the CIDR or of the other family', () => {
    const set = (s: unknown) => failure({ endpointSelector: {}, ingress: [{ fromCIDRSet: [s] }] });
    const cidr = (c: unknown) =>
      failure({ endpointSelector: {}, egress: [{ toCIDR: ['1.1.1.1', c] }] });
    expect(cidr('10.0.0.0/33')).toMatch(
      /^rule 0: egress\[0\]\.toCIDR\[1\]: "10.0.0.0\/33" is not a CIDR or an IP address/,
    );
    expect(cidr('10.0.0/8')).toMatch(/is not a CIDR/);
    expect(cidr('10.0.0.0/08')).toMatch(/is not a CIDR/);
    expect(cidr('fe80::1%eth0')).toMatch(/is not a CIDR/);
    expect(cidr('example.com')).toMatch(/is not a CIDR/);
    expect(cidr(10)).toMatch(/toCIDR\[1\]: must be a string/);
    expect(set({ cidr: '10.0.0.0/8', except: ['192.168.0.0/16'] })).toMatch(
      /fromCIDRSet\[0\]\.except\[0\]: "192.168.0.0\/16" is not strictly inside cidr 10.0.0.0\/8/,
    );
    expect(set({ cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] })).toMatch(/not strictly inside/);
    expect(set({ cidr: '10.0.0.0/16', except: ['10.0.0.0/8'] })).toMatch(/not strictly inside/);
    expect(set({ cidr: '10.0.0.0/8', except: ['fd00::/64'] })).toMatch(
      /except\[0\]: "fd00::\/64" is IPv6 but cidr 10.0.0.0\/8 is IPv4/,
    );
    expect(set({ except: ['10.0.0.0/9'] })).toMatch(/fromCIDRSet\[0\]\.cidr: is required/);
    expect(set({ cidr: '10.0.0.0/8', exclude: [] })).toMatch(
      /fromCIDRSet\[0\]\.exclude: unknown field/,
    );
  });

  it('accepts the known entities and rejects others, naming the accepted ones', () => {
    const all = [
      'all',
      'world',
      'cluster',
      'host',
      'remote-node',
      'health',
      'init',
      'kube-apiserver',
      'unmanaged',
      'ingress',
    ];
    expect(ingress({ fromEntities: [...all, 'world'] }).entities).toEqual(all);
    expect(egress({ toEntities: ['kube-apiserver'] }).entities).toEqual(['kube-apiserver']);
    expect(failure({ endpointSelector: {}, egress: [{ toEntities: ['World'] }] })).toBe(
      `rule 0: egress[0].toEntities[0]: "World" is not an entity (${all.join(', ')})`,
    );
  });

  it('keeps the peer kinds of one element apart, and an empty element empty', () => {
    const r = ingress({
      fromEndpoints: [{ matchLabels: { app: 'a' } }],
      fromEntities: ['host'],
      fromCIDR: ['1.2.3.4'],
    });
    expect(r.endpoints).toHaveLength(1);
    expect(r.entities).toEqual(['host']);
    expect(r.cidrs).toHaveLength(1);
    expect(ingress({})).toEqual({ endpoints: [], cidrs: [], entities: [], ports: [], icmps: [] });
    expect(
      failure({
        endpointSelector: {},
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 1 } }] }],
      }),
    ).toBe('rule 0: ingress[0].fromEndpoints[0].matchLabels.app: must be a string, not 1');
  });
});
