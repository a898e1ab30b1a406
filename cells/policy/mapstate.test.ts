// The map state of an identity, computed from rules over a selector cache: port ranges as
// prefix blocks, deny over allow, CIDR exceptions, entities, enforcement modes.
import { describe, expect, it } from 'vitest';
import { cidrIdentityInfo, LOCAL_IDENTITY_MIN } from './cidr-ids.js';
import { compileRule, computePolicy, portBlocks, type MapEntry } from './mapstate.js';
import { parseRuleObjects } from './rules.js';
import { SelectorCache } from './selectorcache.js';

const FE = { id: 300, labels: ['k8s:app=frontend'] };
const BE = { id: 301, labels: ['k8s:app=backend'] };
const DB = { id: 302, labels: ['k8s:app=db', 'k8s:tier=data'] };
const HOST = { id: 1, labels: ['reserved:host'] };
const WORLD = { id: 2, labels: ['reserved:world'] };

function policy(
  rules: unknown[],
  labels: string[],
  opts: {
    mode?: 'default' | 'always' | 'never';
    extra?: { id: number; labels: string[]; cidr?: string }[];
  } = {},
) {
  const compiled = parseRuleObjects(rules).map(compileRule);
  const cache = new SelectorCache();
  for (const i of [FE, BE, DB, HOST, WORLD, ...(opts.extra ?? [])]) cache.upsertIdentity(i);
  for (const c of compiled) for (const s of c.selectors) cache.addUser(s);
  const pol = computePolicy({
    labels,
    rules: compiled,
    cache,
    mode: opts.mode ?? 'default',
    allowLocalhost: true,
  });
  const show = (e: MapEntry) =>
    `${e.id}/${e.dir ? 'eg' : 'in'}/${e.proto}/${e.port}/${e.prefixlen}${e.deny ? ' deny' : ''}`;
  return { ...pol, list: [...pol.entries.values()].map(show).sort() };
}

describe('port blocks', () => {
  it('splits a range into aligned power-of-two prefixes covering exactly it', () => {
    expect(portBlocks(80, 80)).toEqual([{ proto: 0, port: 80, prefixlen: 64 }]);
    expect(portBlocks(8080, 8083)).toEqual([{ proto: 0, port: 8080, prefixlen: 62 }]);
    const blocks = portBlocks(1000, 2047);
    let covered = 0;
    for (const b of blocks) {
      const size = 2 ** (64 - b.prefixlen);
      expect(b.port % size).toBe(0);
      covered += size;
    }
    expect(covered).toBe(1048);
    expect(portBlocks(1, 65535).length).toBe(16);
  });
});

describe('computePolicy', () => {
  const ingressFromFe = {
    endpointSelector: { matchLabels: { app: 'backend' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
        toPorts: [{ ports: [{ port: '8000', endPort: 8003, protocol: 'TCP' }] }],
      },
    ],
  };

  it('allows the selected peers on the range, the host always, egress open', () => {
    const p = policy([ingressFromFe], BE.labels);
    expect(p.ingress).toBe(true);
    expect(p.egress).toBe(false);
    expect(p.list).toEqual(['0/eg/0/0/40', '1/in/0/0/40', '300/in/6/8000/62']);
  });

  it('leaves an endpoint no rule selects open both ways', () => {
    expect(policy([ingressFromFe], FE.labels).list).toEqual(['0/eg/0/0/40', '0/in/0/0/40']);
  });

  it('a deny removes the allows it covers and wins over a wildcard allow', () => {
    const p = policy(
      [
        ingressFromFe,
        {
          endpointSelector: { matchLabels: { app: 'backend' } },
          ingress: [{ fromEntities: ['all'] }],
          ingressDeny: [
            {
              fromEndpoints: [{ matchLabels: { app: 'frontend' } }],
              toPorts: [{ ports: [{ port: '0', protocol: 'TCP' }] }],
            },
          ],
        },
      ],
      BE.labels,
    );
    // 300's TCP allow (8000-8003) is covered by its TCP deny: gone; the deny stays.
    expect(p.list).toEqual(
      ['0/in/0/0/40', '0/eg/0/0/40', '1/in/0/0/40', '300/in/6/0/48 deny'].sort(),
    );
  });

  it('ANY expands to TCP, UDP and SCTP; icmps use the type as the port', () => {
    const p = policy(
      [
        {
          endpointSelector: {},
          egress: [
            {
              toEndpoints: [{ matchLabels: { tier: 'data' } }],
              toPorts: [{ ports: [{ port: '53' }] }],
            },
            {
              toEndpoints: [{}],
              icmps: [{ fields: [{ type: 8 }, { family: 'IPv6', type: 128 }] }],
            },
          ],
        },
      ],
      FE.labels,
    );
    expect(p.list).toEqual(
      [
        '0/eg/1/8/64',
        '0/eg/58/128/64',
        '0/in/0/0/40',
        '302/eg/132/53/64',
        '302/eg/17/53/64',
        '302/eg/6/53/64',
      ].sort(),
    );
  });

  it('a CIDR with an exception selects the CIDR identities inside it, not those in the exception', () => {
    const outer = cidrIdentityInfo('10.0.0.0/8', LOCAL_IDENTITY_MIN);
    const hole = cidrIdentityInfo('10.1.0.0/16', LOCAL_IDENTITY_MIN + 1);
    const inner = cidrIdentityInfo('10.2.0.0/16', LOCAL_IDENTITY_MIN + 2);
    const p = policy(
      [
        {
          endpointSelector: { matchLabels: { app: 'frontend' } },
          egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }],
        },
      ],
      FE.labels,
      {
        extra: [
          { ...outer, labels: [...outer.labels] },
          { ...hole, labels: [...hole.labels] },
          { ...inner, labels: [...inner.labels] },
        ],
      },
    );
    expect(p.list).toEqual(
      ['0/in/0/0/40', `${outer.id}/eg/0/0/40`, `${inner.id}/eg/0/0/40`].sort(),
    );
  });

  it('an empty element turns default deny on without allowing anything; never and always modes', () => {
    const rule = { endpointSelector: { matchLabels: { app: 'db' } }, ingress: [{}] };
    expect(policy([rule], DB.labels).list).toEqual(['0/eg/0/0/40', '1/in/0/0/40']);
    expect(policy([rule], DB.labels, { mode: 'never' }).list).toEqual([
      '0/eg/0/0/40',
      '0/in/0/0/40',
    ]);
    expect(policy([], FE.labels, { mode: 'always' }).list).toEqual(['1/in/0/0/40']);
  });

  it('enableDefaultDeny false adds its allows without closing the direction', () => {
    const p = policy(
      [
        {
          endpointSelector: { matchLabels: { app: 'db' } },
          enableDefaultDeny: { ingress: false },
          ingressDeny: [{ fromEntities: ['world'] }],
        },
      ],
      DB.labels,
    );
    expect(p.ingress).toBe(false);
    expect(p.list).toEqual(['0/eg/0/0/40', '0/in/0/0/40', '2/in/0/0/40 deny'].sort());
  });
});
