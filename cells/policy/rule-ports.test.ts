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

const cnp = (spec: string, meta = 'name: allow-fe\n  namespace: prod') => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  ${meta}
${spec}`;

describe('parseRules: ports and ICMP', () => {
  const ports = (p: unknown[]) => ingress({ toPorts: [{ ports: p }] }).ports;
  const portError = (p: unknown) =>
    failure({ endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: 1 }, p] }] }] });

  it('reads numbers, numeric strings, ranges, protocols (default ANY), port 0 as every port', () => {
    expect(
      ports([
        { port: 80 },
        { port: '443', protocol: 'tcp' },
        { port: 53, protocol: 'Udp' },
        { port: '9000', endPort: 9100, protocol: 'SCTP' },
        { port: 0 },
        {},
        { port: 5, endPort: 0 },
      ]),
    ).toEqual([
      { port: 80, endPort: 80, protocol: 'ANY' },
      { port: 443, endPort: 443, protocol: 'TCP' },
      { port: 53, endPort: 53, protocol: 'UDP' },
      { port: 9000, endPort: 9100, protocol: 'SCTP' },
      { port: 0, endPort: 65535, protocol: 'ANY' },
      { port: 0, endPort: 65535, protocol: 'ANY' },
      { port: 5, endPort: 5, protocol: 'ANY' },
    ]);
    expect(ports([{ port: 65535, endPort: 65535 }])).toEqual([
      { port: 65535, endPort: 65535, protocol: 'ANY' },
    ]);
    expect(
      ingress({ toPorts: [{ ports: [{ port: 1 }] }, { ports: [{ port: 2 }] }] }).ports.map(
        (p) => p.port,
      ),
    ).toEqual([1, 2]);
  });

  it('rejects bad ports, ranges and protocols, naming the rule and path', () => {
    const rules = [
      { endpointSelector: {} },
      { endpointSelector: {} },
      {
        endpointSelector: {},
        ingress: [{ toPorts: [{ ports: [{ port: 80 }, { port: '99999' }] }] }],
      },
    ];
    expect(failure(cnp(`specs: ${JSON.stringify(rules)}`).replace('specs', 'specs'))).toBe(
      'rule 2 (CiliumNetworkPolicy prod/allow-fe specs[2]): ingress[0].toPorts[0].ports[1].port: "99999" is not a port (0-65535)',
    );
    expect(portError({ port: 65536 })).toMatch(/ports\[1\]\.port: 65536 is not a port/);
    expect(portError({ port: -1 })).toMatch(/port: -1 is not a port/);
    expect(portError({ port: 80.5 })).toMatch(/port: 80.5 is not a port/);
    expect(portError({ port: '' })).toMatch(/port: "" is not a port/);
    expect(portError({ port: '8 0' })).toMatch(/port: "8 0" is not a port/);
    expect(portError({ port: true })).toMatch(/port: true is not a port/);
    expect(portError({ port: 100, endPort: 99 })).toMatch(
      /ports\[1\]\.endPort: 99 is below port 100/,
    );
    expect(portError({ port: 100, endPort: 70000 })).toMatch(/endPort: 70000 is not a port/);
    expect(portError({ port: 100, endPort: '200' })).toMatch(/endPort: "200" is not a port/);
    expect(portError({ endPort: 200 })).toMatch(/endPort: a range needs a port other than 0/);
    expect(portError({ port: 1, protocol: 'ICMP' })).toMatch(
      /protocol: "ICMP" is not a toPorts protocol: use icmps/,
    );
    expect(portError({ port: 1, protocol: 'HTTP' })).toMatch(
      /protocol: "HTTP" is not a protocol \(TCP, UDP, SCTP, ANY\)/,
    );
    expect(failure({ endpointSelector: {}, ingress: [{ toPorts: [{}] }] })).toMatch(
      /ingress\[0\]\.toPorts\[0\]\.ports: must list at least one port/,
    );
    expect(failure({ endpointSelector: {}, ingress: [{ toPorts: [{ ports: [] }] }] })).toMatch(
      /must list at least one port/,
    );
  });

  it('reads ICMP types by number and by name, per family', () => {
    const icmps = ingress({
      icmps: [
        { fields: [{ type: 8 }, { type: 'EchoRequest', family: 'IPv6' }, { type: 'EchoReply' }] },
        {
          fields: [
            { type: 'DestinationUnreachable' },
            { type: 'TimeExceeded', family: 'IPv6' },
            { type: '11' },
          ],
        },
      ],
    }).icmps;
    expect(icmps).toEqual([
      { family: 'IPv4', type: 8 },
      { family: 'IPv6', type: 128 },
      { family: 'IPv4', type: 0 },
      { family: 'IPv4', type: 3 },
      { family: 'IPv6', type: 3 },
      { family: 'IPv4', type: 11 },
    ]);
    const icmpError = (f: unknown) =>
      failure({ endpointSelector: {}, egress: [{ icmps: [{ fields: [f] }] }] });
    expect(icmpError({ type: 256 })).toMatch(
      /egress\[0\]\.icmps\[0\]\.fields\[0\]\.type: 256 is not an IPv4 ICMP type/,
    );
    expect(icmpError({ type: 'Ping' })).toMatch(/type: "Ping" is not an IPv4 ICMP type/);
    expect(icmpError({ type: 'toString' })).toMatch(/type: "toString" is not an IPv4 ICMP type/);
    expect(icmpError({ type: 'PacketTooBig' })).toMatch(/not an IPv4 ICMP type/);
    expect(
      egress({ icmps: [{ fields: [{ family: 'IPv6', type: 'PacketTooBig' }] }] }).icmps,
    ).toEqual([{ family: 'IPv6', type: 2 }]);
    expect(icmpError({ type: 8, family: 'ipv5' })).toMatch(/family: "ipv5" is not a family/);
    expect(icmpError({ family: 'IPv4' })).toMatch(/type: is required/);
    expect(failure({ endpointSelector: {}, egress: [{ icmps: [{ fields: [] }] }] })).toMatch(
      /icmps\[0\]\.fields: must list at least one/,
    );
    expect(
      failure({
        endpointSelector: {},
        egress: [{ icmps: [{ fields: [{ type: 8 }] }], toPorts: [{ ports: [{ port: 1 }] }] }],
      }),
    ).toMatch(/egress\[0\]\.icmps: icmps may not be combined with toPorts/);
  });
});
