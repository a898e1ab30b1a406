import { formatIp, parseIp, type Family } from '../../core/ip.js';
import type { OperationSpec } from '../../core/api/index.js';
import type { FuzzRequest } from './fuzz-target.js';
import type { RequestHints } from './spec-requests.js';
import type { Rng } from './spec-fuzz.js';

/** A pod CIDR and its addresses that must never be handed out (network, router, broadcast). */
export class PodCidr {
  readonly family: Family;
  readonly network: string;
  readonly router: string;
  readonly broadcast: string | undefined;
  readonly last: string;
  readonly outside: string;
  private readonly base: bigint;
  private readonly size: bigint;

  constructor(readonly cidr: string) {
    const [ip = '', len = ''] = cidr.split('/');
    const p = parseIp(ip);
    if (!p) throw new Error(`${cidr} is not a CIDR`);
    this.family = p.family;
    const host = BigInt((p.family === 'ipv4' ? 32 : 128) - Number(len));
    this.size = 1n << host;
    this.base = (p.value >> host) << host;
    this.network = this.at(0n);
    this.router = this.at(1n);
    this.broadcast = p.family === 'ipv4' ? this.at(this.size - 1n) : undefined;
    this.last = this.at(this.size - 1n);
    this.outside = this.at(this.size);
  }

  /** The address at an offset from the network address. */
  at(i: bigint): string {
    return formatIp(this.family, this.base + i);
  }

  /** Any address of the range, reserved ones included. */
  random(rng: Rng): string {
    return this.at(BigInt(rng.int(0, Number(this.size) - 1)));
  }

  /** Whether `ip` lies in the range. */
  contains(ip: string): boolean {
    const p = parseIp(ip);
    return p?.family === this.family && p.value >= this.base && p.value < this.base + this.size;
  }

  /** Whether `ip` is the network, router or broadcast address. */
  reserved(ip: string): boolean {
    return [this.network, this.router, this.broadcast].includes(ip);
  }
}

/** An endpoint as the API lists it, reduced to what the fuzzer refers to. */
export interface KnownEndpoint {
  readonly id: number;
  readonly containerId: string;
  readonly podName: string;
  readonly cniAttachmentId: string;
  readonly ips: readonly string[];
}

interface EndpointModel {
  id?: number;
  status?: {
    'external-identifiers'?: {
      'container-id'?: string;
      'pod-name'?: string;
      'cni-attachment-id'?: string;
    };
    networking?: { addressing?: { ipv4?: string; ipv6?: string }[] };
  };
}

/** Reads endpoints from a GET /endpoint reply. */
export function knownEndpoints(json: unknown): KnownEndpoint[] {
  if (!Array.isArray(json)) return [];
  return (json as EndpointModel[]).map((e) => {
    const ids = e.status?.['external-identifiers'] ?? {};
    const ips = (e.status?.networking?.addressing ?? []).flatMap((a) =>
      [a.ipv4, a.ipv6].filter((x): x is string => typeof x === 'string' && x !== ''),
    );
    return {
      id: e.id ?? -1,
      containerId: ids['container-id'] ?? '',
      podName: ids['pod-name'] ?? '',
      cniAttachmentId: ids['cni-attachment-id'] ?? '',
      ips,
    };
  });
}

/** What the fuzzer knows of the agent's state, to aim requests at things that exist. */
export interface Knowledge {
  endpoints: KnownEndpoint[];
  maps: string[];
  identities: number[];
}

/** Refers to an endpoint in one of the id forms of Cilium's API. */
export function endpointRef(rng: Rng, ep: KnownEndpoint | undefined): string {
  if (!ep) return String(rng.int(1, 40));
  const [ns = 'default', pod = 'p'] = ep.podName.split('/');
  const forms = [
    String(ep.id),
    `cilium-local:${ep.id}`,
    ...(ep.containerId
      ? [`container-id:${ep.containerId}`, `cni-attachment-id:${ep.containerId}:eth0`]
      : []),
    ...(ep.podName
      ? [`pod-name:${ns}/${pod}`, `pod-name:${ns}:${pod}`, `cep-name:${ns}/${pod}`]
      : []),
  ];
  return rng.pick(forms);
}

/** Odd endpoint ids: out of range, not numbers, every prefix with odd values. */
export const ODD_ENDPOINT_IDS: readonly string[] = [
  '0',
  '-3',
  '70000',
  '65535',
  '65536',
  '1e3',
  '0x10',
  '05',
  ' 5',
  '٣',
  'cilium-local:5',
  'cilium-local:',
  'cilium-local:-1',
  'cilium-local:cilium-local:1',
  'cilium-global:default:x',
  'cni-attachment-id:',
  'container-id:',
  'container-name:',
  'container-name:x y',
  'docker-endpoint:',
  'pod-name:a:b',
  'pod-name:ns/x',
  'pod-name:a:b:c',
  'pod-name:',
  'pod-name:/',
  'cep-name:ns/x',
  'cep-name:',
  'unknown-prefix:1',
  ':5',
  'CILIUM-LOCAL:1',
  'pod-name:ns%2Fx',
  'container-id:../../etc',
];

const MACS = ['02:00:00:00:00:01', '0a:58:0a:f4:00:05', 'AA:BB:CC:DD:EE:FF', ''];

/** Hints aimed at this agent: endpoint ids, pod-CIDR addresses, map names, identities. */
export function agentHints(
  k: Knowledge,
  pools: readonly PodCidr[],
  v6Disabled: boolean,
): RequestHints {
  const pool4 = pools.find((p) => p.family === 'ipv4');
  const pool6 = pools.find((p) => p.family === 'ipv6');
  const ipOf = (rng: Rng, family: Family): string => {
    const pl = family === 'ipv4' ? pool4 : pool6;
    if (!pl || rng.chance(0.05)) return family === 'ipv4' ? '192.168.7.7' : 'fd00:dead::7';
    return rng.chance(0.9)
      ? pl.random(rng)
      : rng.pick([pl.network, pl.router, pl.last, pl.outside]);
  };
  const ipParam = (rng: Rng): string =>
    rng.pick([
      () => ipOf(rng, 'ipv4'),
      () => ipOf(rng, 'ipv4'),
      () => ipOf(rng, 'ipv6'),
      () => rng.pick(['0.0.0.0', '255.255.255.255', '::', '::1', '127.0.0.1', '10.77.0.05']),
      () => rng.pick(k.endpoints.flatMap((e) => e.ips).concat(['10.0.0.1'])),
      () => rng.pick(['default/p1', 'c1', 'ns1/p2', '']),
    ])();
  const epId = (rng: Rng): string =>
    rng.chance(0.6) && k.endpoints.length > 0
      ? endpointRef(rng, rng.pick(k.endpoints))
      : rng.pick(ODD_ENDPOINT_IDS);
  const labels = (rng: Rng): string[] =>
    rng
      .shuffle([
        'k8s:app=web',
        'k8s:role=db',
        'app=x',
        'reserved:host',
        'k8s:io.kubernetes.pod.namespace=default',
      ])
      .slice(0, rng.int(0, 3));

  return {
    param(op: OperationSpec, p) {
      if (p.name === 'id' && op.path.startsWith('/endpoint/')) return epId;
      if (p.name === 'id' && op.path.startsWith('/fqdn/')) return epId;
      if (p.name === 'id' && op.path.startsWith('/identity/')) {
        return (rng) =>
          String(rng.pick([...k.identities, 0, 1, 2, 255, 256, 65535, 65536, 4294967296]));
      }
      if (p.name === 'ip') return ipParam;
      if (p.name === 'name')
        return (rng) => rng.pick([...k.maps, 'cellium_nonexistent', 'lxc', '']);
      if (p.name === 'owner')
        return (rng) => rng.pick(['default/p1', 'ns1/p2', 'c1', '', 'x'.repeat(300)]);
      if (p.name === 'family')
        return (rng) => (rng.chance(v6Disabled ? 0.3 : 0.5) ? 'ipv6' : 'ipv4');
      if (p.name === 'cidr')
        return (rng) =>
          rng.pick([
            pool4?.cidr ?? '10.0.0.0/8',
            '10.0.0.0/8',
            'fd00::/64',
            `${ipOf(rng, 'ipv4')}/32`,
          ]);
      if (p.name === 'labels') return (rng) => labels(rng).join(',');
      return undefined;
    },
    body: {
      ipv4: (rng) => ipOf(rng, 'ipv4'),
      ipv6: (rng) => ipOf(rng, 'ipv6'),
      // Service frontends and backends.
      ip: (rng) => ipOf(rng, rng.chance(0.8) ? 'ipv4' : 'ipv6'),
      mac: (rng) => rng.pick(MACS),
      'host-mac': (rng) => rng.pick(MACS),
      'interface-name': (rng) =>
        rng.chance(0.85) ? '' : rng.pick(['lxc1234', 'lo', 'eth0', 'veth0']),
      'interface-index': (rng) => rng.int(0, 100),
      'container-interface-name': (rng) => rng.pick(['eth0', 'net1']),
      labels,
      user: labels,
      'k8s-namespace': (rng) => rng.pick(['default', 'ns1']),
      'k8s-pod-name': (rng) => `p${rng.int(0, 15)}`,
      'container-id': (rng) => `c${rng.int(0, 30)}`,
      id: (rng) => (rng.chance(0.7) ? 0 : rng.int(1, 40)),
      state: () => 'waiting-for-identity',
      'external-ipam': (rng) => rng.chance(0.1),
    },
    wholeBody(op, rng) {
      if (op.id === 'PatchConfig') {
        return rng.chance(0.5)
          ? { 'policy-enforcement': rng.pick(['default', 'always', 'never']) }
          : {
              options: {
                [rng.pick(['policy-enforcement', 'debug', 'Debug', 'mtu'])]: rng.pick([
                  'always',
                  'true',
                  'Enabled',
                  '1500',
                ]),
              },
            };
      }
      if (op.id === 'PatchEndpointIDConfig') {
        return {
          options: {
            [rng.pick(['Debug', 'DropNotification', 'PolicyAuditMode', 'Bogus'])]: rng.pick([
              'Enabled',
              'Disabled',
              'on',
            ]),
          },
        };
      }
      return undefined;
    },
  };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * Why a request the agent accepted should have been refused (issue 7's input rules), or
 * undefined: endpoint ids out of range, impossible interface names and indexes, reserved IPs.
 */
export function shouldHaveRefused(req: FuzzRequest, pools: readonly PodCidr[]): string | undefined {
  if (req.op !== 'PutEndpointID' && req.op !== 'PatchEndpointID') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body ?? '');
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const body = parsed as Record<string, unknown>;
  const id = num(body.id);
  if (id !== undefined && (id < 0 || id > 65535)) return `id ${id} is outside 0-65535`;
  const idx = num(body['interface-index']);
  if (idx !== undefined && (idx < 0 || idx > 2 ** 31 - 1)) {
    return `interface-index ${idx} is not a kernel ifindex`;
  }
  const name = body['interface-name'];
  if (typeof name === 'string' && name !== '') {
    if (
      name === 'lo' ||
      name.length > 15 ||
      /[/\s\0:]/.test(name) ||
      name === '.' ||
      name === '..'
    ) {
      return `interface-name ${JSON.stringify(name.slice(0, 40))} cannot be an endpoint's host-side device`;
    }
  }
  for (const f of ['mac', 'host-mac']) {
    const mac = body[f];
    if (typeof mac === 'string' && mac !== '' && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) {
      return `${f} ${JSON.stringify(mac.slice(0, 40))} is not a MAC address`;
    }
  }
  const addr = body.addressing as Record<string, unknown> | undefined;
  const dp = body['datapath-configuration'] as Record<string, unknown> | undefined;
  for (const f of ['ipv4', 'ipv6'] as const) {
    const ip = addr?.[f];
    if (typeof ip !== 'string' || ip === '') continue;
    if (parseIp(ip)?.family !== f)
      return `addressing.${f} ${JSON.stringify(ip.slice(0, 40))} is not an ${f} address`;
    const pool = pools.find((p) => p.contains(ip));
    if (pool?.reserved(ip) && dp?.['external-ipam'] !== true) {
      return `addressing.${f} ${ip} is a reserved address of ${pool.cidr}`;
    }
  }
  return undefined;
}
