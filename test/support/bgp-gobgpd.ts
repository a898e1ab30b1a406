// gobgpd (Debian's gobgpd 3.x) as a test router: TOML configuration, the daemon in its namespace
// with its gRPC API on that namespace's loopback, and `gobgp -j` read back.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cmdAsync,
  Daemon,
  routerDir,
  type Router,
  type RouterLink,
  type RouterNeighbor,
  type RouterOptions,
  type RouterRoute,
  type RouterSession,
  type Teardown,
} from './bgp-routers.js';

/** gobgp's SessionState enum (api/gobgp.proto) by number, as `gobgp -j neighbor` prints it. */
const SESSION_STATES = ['unknown', 'idle', 'connect', 'active', 'opensent', 'openconfirm'];

/** The parts of `gobgp -j neighbor <addr>` the tests read. */
interface GobgpNeighborJson {
  state?: { session_state?: number | string };
  graceful_restart?: { enabled?: boolean; peer_restarting?: boolean };
  afi_safis?: {
    mp_graceful_restart?: { state?: { received?: boolean; advertised?: boolean } };
  }[];
}

/** One path of `gobgp -j global rib`. */
interface GobgpPathJson {
  best?: boolean;
  stale?: boolean;
  'neighbor-ip'?: string;
  attrs?: { type: number; nexthop?: string }[];
}

/** The TOML of one neighbor: both families, graceful restart helper per family when asked. */
function neighborToml(n: RouterNeighbor): string {
  const lines = [
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${n.address}"`,
    `    peer-as = ${n.asn}`,
    `    admin-down = ${n.disabled === true}`,
    '  [neighbors.transport.config]',
    `    remote-port = ${n.port ?? 179}`,
    `    passive-mode = ${n.passive === true}`,
    '  [neighbors.timers.config]',
    `    hold-time = ${n.holdSec ?? 90}`,
    `    keepalive-interval = ${n.keepaliveSec ?? Math.max(1, Math.floor((n.holdSec ?? 90) / 3))}`,
    '    connect-retry = 1',
  ];
  const gr = n.gracefulRestartSec;
  if (gr !== undefined) {
    lines.push(
      '  [neighbors.graceful-restart.config]',
      '    enabled = true',
      `    restart-time = ${gr}`,
    );
  }
  for (const family of ['ipv4-unicast', 'ipv6-unicast']) {
    lines.push(
      '  [[neighbors.afi-safis]]',
      '    [neighbors.afi-safis.config]',
      `      afi-safi-name = "${family}"`,
    );
    if (gr !== undefined) {
      lines.push('    [neighbors.afi-safis.mp-graceful-restart.config]', '      enabled = true');
    }
  }
  return lines.join('\n');
}

/** gobgpd's configuration file for `o`. */
export function gobgpdToml(o: RouterOptions, localAddress?: string): string {
  return [
    '[global.config]',
    `  as = ${o.asn}`,
    `  router-id = "${o.routerId}"`,
    `  port = ${o.listenPort ?? 179}`,
    ...(localAddress === undefined ? [] : [`  local-address-list = ["${localAddress}"]`]),
    ...o.neighbors.map(neighborToml),
    '',
  ].join('\n');
}

/** A running gobgpd. */
export interface Gobgpd extends Router {
  readonly kind: 'gobgpd';
  /** Runs `gobgp <args>` against this daemon; resolves with what it printed. */
  cli(...args: string[]): Promise<string>;
  /** `gobgp -j <args>`, parsed. */
  json<T>(...args: string[]): Promise<T>;
}

/** Where and how gobgpd runs. */
export interface GobgpdOptions extends RouterOptions {
  /** Its own namespace (its gRPC API on 127.0.0.1:50051 there). */
  readonly link?: RouterLink;
  /** Without a link: the host namespace, with this gRPC port on 127.0.0.1 (pick a free one). */
  readonly apiPort?: number;
  /** Bind only this address for outgoing and incoming sessions (host namespace use). */
  readonly localAddress?: string;
  /** `-r`: the restart state bit in its graceful restart capability. */
  readonly restarting?: boolean;
}

/** Starts gobgpd and waits until its API answers. */
export async function startGobgpd(td: Teardown, o: GobgpdOptions): Promise<Gobgpd> {
  const dir = routerDir(td, 'cellium-gobgpd-');
  const file = join(dir, 'gobgpd.toml');
  writeFileSync(file, gobgpdToml(o, o.localAddress));
  const ns = o.link?.ns;
  const apiPort = ns === undefined ? o.apiPort : 50051;
  if (apiPort === undefined) throw new Error('gobgpd in the host namespace needs an apiPort');
  const daemon = new Daemon(
    `gobgpd in ${ns ?? 'the host namespace'}`,
    [
      'gobgpd',
      '-f',
      file,
      '-t',
      'toml',
      '-p',
      '--pprof-disable',
      `--api-hosts=127.0.0.1:${apiPort}`,
      ...(o.restarting === true ? ['-r'] : []),
    ],
    ns,
    td,
  );
  const inNs = ns === undefined ? [] : ['ip', 'netns', 'exec', ns];
  const cli = (...args: string[]): Promise<string> => {
    const [bin = 'gobgp', ...rest] = [...inNs, 'gobgp', '-p', String(apiPort), ...args];
    return cmdAsync(bin, rest);
  };
  const json = async <T>(...args: string[]): Promise<T> =>
    JSON.parse(await cli('-j', ...args)) as T;
  const ready = async (): Promise<void> => {
    for (let i = 0; ; i++) {
      if (!daemon.running) throw new Error(`${daemon.name} exited:\n${daemon.logs()}`);
      if (
        await cli('global').then(
          () => true,
          () => false,
        )
      )
        return;
      if (i > 1500) throw new Error(`${daemon.name} API never answered:\n${daemon.logs()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  daemon.start();
  await ready();
  const r: Gobgpd = {
    kind: 'gobgpd',
    link: o.link ?? {
      ns: '',
      hostIf: '',
      hostV4: o.localAddress ?? '',
      routerV4: o.localAddress ?? '',
      hostV6: '',
      routerV6: '',
    },
    daemon,
    cli,
    json,
    session: async (peer): Promise<RouterSession> => {
      // One neighbor prints as an object (the whole list as an array).
      const got = await json<GobgpNeighborJson | GobgpNeighborJson[]>('neighbor', peer);
      const n = Array.isArray(got) ? got[0] : got;
      if (!n) throw new Error(`gobgpd has no neighbor ${peer}`);
      const s = n.state?.session_state ?? 0;
      const state = typeof s === 'number' ? (SESSION_STATES[s] ?? 'established') : s.toLowerCase();
      const gr = (n.afi_safis ?? []).map((a) => a.mp_graceful_restart?.state ?? {});
      return {
        state: s === 6 ? 'established' : state,
        peerRestarting: n.graceful_restart?.peer_restarting === true,
        gracefulRestart: gr.length > 0 && gr.every((g) => g.received === true && g.advertised),
      };
    },
    routes: async (family): Promise<RouterRoute[]> => {
      const rib = await json<Record<string, GobgpPathJson[]> | null>('global', 'rib', '-a', family);
      return Object.entries(rib ?? {}).flatMap(([prefix, paths]) =>
        paths.map((p) => ({
          prefix,
          nextHop: p.attrs?.find((a) => a.type === 3 || a.type === 14)?.nexthop ?? '',
          stale: p.stale === true,
          best: p.best === true,
          from: p['neighbor-ip'] ?? '',
        })),
      );
    },
    restart: async () => {
      await daemon.signal('SIGTERM');
      daemon.start();
      await ready();
    },
  };
  return r;
}
