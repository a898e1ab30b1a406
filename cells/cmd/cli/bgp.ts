import type { Command } from 'commander';
import type { Model } from '../../../core/api/types.js';
import { attrText, nextHopOf } from './bgp-attrs.js';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** What `bgp routes` asks, from its positional arguments. */
export interface RoutesArgs {
  readonly table: 'loc-rib' | 'adj-rib-out';
  readonly afi: 'ipv4' | 'ipv6';
  readonly safi: 'unicast';
  readonly routerAsn?: number;
  readonly neighbor?: string;
}

const USAGE =
  'usage: bgp routes <available|advertised> <ipv4|ipv6> <unicast> [vrouter <asn>] [peer|neighbor <address>]';

function asnOf(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 4294967295) {
    throw new Error(`${what}: '${v ?? ''}' is not an ASN (1..4294967295)`);
  }
  return Number(v);
}

/** Parses `bgp routes` arguments as cilium-dbg does; an error names the bad one. */
export function parseRoutesArgs(args: readonly string[]): RoutesArgs {
  const [kind, afi, safi, ...rest] = args;
  if (kind !== 'available' && kind !== 'advertised') {
    throw new Error(`table '${kind ?? ''}' is not available or advertised (${USAGE})`);
  }
  if (afi !== 'ipv4' && afi !== 'ipv6')
    throw new Error(`afi '${afi ?? ''}' is not ipv4 or ipv6 (${USAGE})`);
  if (safi !== 'unicast') throw new Error(`safi '${safi ?? ''}' is not unicast (${USAGE})`);
  let routerAsn: number | undefined;
  let neighbor: string | undefined;
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i];
    const value = rest[i + 1];
    if (key === 'vrouter') routerAsn = asnOf(value, 'vrouter');
    else if (key === 'peer' || key === 'neighbor') {
      if (value === undefined || value === '')
        throw new Error(`${key}: an address is missing (${USAGE})`);
      neighbor = value;
    } else throw new Error(`'${key ?? ''}' is not vrouter, peer or neighbor (${USAGE})`);
  }
  if (kind === 'available' && neighbor !== undefined) {
    throw new Error("available routes are the router's own: they have no peer (use advertised)");
  }
  return {
    table: kind === 'available' ? 'loc-rib' : 'adj-rib-out',
    afi,
    safi,
    ...(routerAsn !== undefined ? { routerAsn } : {}),
    ...(neighbor !== undefined ? { neighbor } : {}),
  };
}

/**
 * Nanoseconds as cilium-dbg prints them: Go's time.Duration(ns).Round(time.Second).String()
 * ('0s', '59s', '1m0s', '26h3m4s': hours are not folded into days).
 */
export function duration(ns: number | undefined): string {
  const s = Math.round((ns ?? 0) / 1e9);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m${s % 60}s`;
}

/** Peers as cilium-dbg prints them: one row per family, the session's columns on its first. */
export function renderPeers(peers: readonly Model<'BgpPeer'>[]): string {
  const rows = peers.flatMap((p) => {
    const up = p['session-state'] === 'established';
    const addr = `${p['peer-address'] ?? ''}:${p['peer-port'] ?? 179}`;
    const head = [
      String(p['local-asn'] ?? ''),
      String(p['peer-asn'] ?? ''),
      addr,
      p['session-state'] ?? '',
      up ? duration(p['uptime-nanoseconds']) : '0s',
    ];
    const fams = p.families ?? [];
    if (fams.length === 0) return [[...head, '', '', '']];
    return fams.map((f, i) => [
      ...(i === 0 ? head : ['', '', '', '', '']),
      `${f.afi ?? ''}/${f.safi ?? ''}`,
      String(f.received ?? 0),
      String(f.advertised ?? 0),
    ]);
  });
  return table(
    [
      'Local AS',
      'Peer AS',
      'Peer Address',
      'Session State',
      'Uptime',
      'Family',
      'Received',
      'Advertised',
    ],
    rows,
  );
}

/** Routes as cilium-dbg prints them (advertised ones with their peer). */
export function renderRoutes(routes: readonly Model<'BgpRoute'>[], advertised: boolean): string {
  const rows = routes.flatMap((r) =>
    r.paths.map((p) => {
      const attrs = (p['path-attributes'] ?? []).map((a) => Buffer.from(a.base64 ?? '', 'base64'));
      return [
        String(r['router-asn'] ?? ''),
        ...(advertised ? [r.neighbor ?? ''] : []),
        r.prefix,
        nextHopOf(attrs),
        duration(p['age-nanoseconds']),
        `[${attrs.map(attrText).join(' ')}]`,
      ];
    }),
  );
  return table(
    ['VRouter', ...(advertised ? ['Peer'] : []), 'Prefix', 'NextHop', 'Age', 'Attrs'],
    rows,
  );
}

/** Route policies as cilium-dbg prints them: one row per statement. */
export function renderPolicies(policies: readonly Model<'BgpRoutePolicy'>[]): string {
  const rows = policies.flatMap((p) =>
    (p.statements ?? []).map((s) => {
      const c = (s.conditions ?? {}) as Record<string, unknown>;
      const a = (s.actions ?? {}) as Record<string, unknown>;
      const prefixes = (
        (c['match-prefixes'] ?? []) as {
          cidr: string;
          'prefix-len-min': number;
          'prefix-len-max': number;
        }[]
      ).map((x) => `${x.cidr} (${x['prefix-len-min']}..${x['prefix-len-max']})`);
      const path = Object.entries(a)
        .filter(([k]) => k !== 'route-action')
        .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(',') : String(v)}`);
      return [
        String(p['router-asn'] ?? ''),
        p.name ?? '',
        p.type ?? '',
        ((c['match-neighbors'] ?? []) as string[]).join(' '),
        prefixes.join(' '),
        typeof a['route-action'] === 'string' ? a['route-action'] : '',
        path.join(' '),
      ];
    }),
  );
  return table(
    [
      'VRouter',
      'Policy Name',
      'Type',
      'Match Peers',
      'Match Prefixes (Min..Max Len)',
      'RIB Action',
      'Path Actions',
    ],
    rows,
  );
}

/** `cellium bgp peers|routes|route-policies`: the BGP control plane (cilium-dbg bgp). */
export function registerBgp(program: Command): void {
  const bgp = program.command('bgp').description('BGP peers, routes and route policies');
  bgp
    .command('peers')
    .description('List the BGP peers of every virtual router and their sessions')
    .action(async (_: unknown, cmd: Command) => {
      const peers = await withClient(cmd, (api) => api.getBgpPeers());
      print(cmd, peers, () => renderPeers(peers));
    });
  bgp
    .command('routes')
    .description('List routes: available (originated by the node) or advertised (per peer)')
    .argument(
      '<args...>',
      '<available|advertised> <ipv4|ipv6> <unicast> [vrouter <asn>] [peer|neighbor <address>]',
    )
    .action(async (args: string[], _: unknown, cmd: Command) => {
      const q = parseRoutesArgs(args);
      const routes = await withClient(cmd, (api) =>
        api.getBgpRoutes({
          query: {
            table_type: q.table,
            afi: q.afi,
            safi: q.safi,
            ...(q.routerAsn !== undefined ? { router_asn: q.routerAsn } : {}),
            ...(q.neighbor !== undefined ? { neighbor: q.neighbor } : {}),
          },
        }),
      );
      print(cmd, routes, () => renderRoutes(routes, q.table === 'adj-rib-out'));
    });
  bgp
    .command('route-policies')
    .description('List the route policies of every virtual router')
    .argument('[args...]', '[vrouter <asn>]')
    .action(async (args: string[], _: unknown, cmd: Command) => {
      const [key, value, ...more] = args;
      if (key !== undefined && (key !== 'vrouter' || more.length > 0)) {
        throw new Error(
          `'${args.join(' ')}' is not vrouter <asn> (usage: bgp route-policies [vrouter <asn>])`,
        );
      }
      const asn = key === undefined ? undefined : asnOf(value, 'vrouter');
      const policies = await withClient(cmd, (api) =>
        api.getBgpRoutePolicies(asn === undefined ? {} : { query: { router_asn: asn } }),
      );
      print(cmd, policies, () => renderPolicies(policies));
    });
}
