// bird 2 (Debian's bird2) as a test router: one `protocol bgp` per neighbor with ipv4 and ipv6
// channels importing everything, graceful restart on, and `birdc` output parsed back.
//
// bird marks no route as stale in `show route` during a plain graceful restart (only the
// long-lived phase shows "(100s)" and community (65535,6)): while a neighbor restarts, the
// protocol shows "Neighbor graceful restart active" until the neighbor's End-of-RIB, and every
// route of that protocol is held stale until then. `routes()` reports them so.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cmdAsync,
  Daemon,
  routerDir,
  type Router,
  type RouterLink,
  type RouterOptions,
  type RouterRoute,
  type RouterSession,
  type Teardown,
} from './bgp-routers.js';

/** What `birdc show protocols all <name>` says of a BGP protocol. */
export interface BirdProtocol {
  /** "BGP state:" in lowercase ('established', 'active', 'passive', 'connect', 'idle', …). */
  readonly bgpState: string;
  /** "Neighbor graceful restart active": the neighbor restarts, its routes are held stale. */
  readonly grActive: boolean;
  /** Both OPENs carried graceful restart (listed under local and neighbor capabilities). */
  readonly grNegotiated: boolean;
  /** Per channel ("ipv4", "ipv6"): routes imported and import withdraws received. */
  readonly channels: Readonly<Record<string, { imported: number; withdrawsReceived: number }>>;
}

/** Parses `birdc show protocols all <name>`. */
export function parseBirdProtocol(text: string): BirdProtocol {
  const bgpState = /BGP state:\s+(\S+)/.exec(text)?.[1]?.toLowerCase() ?? 'unknown';
  const caps = (side: string): boolean => {
    const at = text.indexOf(`${side} capabilities`);
    if (at < 0) return false;
    const rest = text.slice(at + 1);
    const end = rest.search(/\n {4}\S/);
    return (end < 0 ? rest : rest.slice(0, end)).includes('Graceful restart');
  };
  const channels: Record<string, { imported: number; withdrawsReceived: number }> = {};
  for (const part of text.split(/\n\s+Channel /).slice(1)) {
    const name = /^(\S+)/.exec(part)?.[1] ?? '?';
    channels[name] = {
      imported: Number(/Routes:\s+(\d+) imported/.exec(part)?.[1] ?? 0),
      withdrawsReceived: Number(/Import withdraws:\s+(\d+)/.exec(part)?.[1] ?? 0),
    };
  }
  return {
    bgpState,
    grActive: text.includes('Neighbor graceful restart active'),
    grNegotiated: caps('Local') && caps('Neighbor'),
    channels,
  };
}

/** One route of `birdc show route all`. */
export interface BirdRoute {
  readonly prefix: string;
  readonly protocol: string;
  readonly primary: boolean;
  /** BGP.next_hop's first address (or the "via" gateway). */
  readonly nextHop: string;
  /** Long-lived stale ("(100s)"). */
  readonly llgrStale: boolean;
}

/** Parses `birdc show route all [protocol <name>]`. */
export function parseBirdRoutes(text: string): BirdRoute[] {
  const out: { -readonly [K in keyof BirdRoute]: BirdRoute[K] }[] = [];
  let prefix = '';
  for (const line of text.split('\n')) {
    const head =
      /^(\S*)\s+(?:unicast|unreachable|blackhole|prohibited)\s+\[(\S+)[^\]]*\]\s*(\*)?\s*\((\d+)(s?)/.exec(
        line,
      );
    if (head) {
      if (head[1]) prefix = head[1];
      out.push({
        prefix,
        protocol: head[2] ?? '',
        primary: head[3] === '*',
        nextHop: '',
        llgrStale: head[5] === 's',
      });
      continue;
    }
    const last = out[out.length - 1];
    if (!last) continue;
    const via = /^\s+via (\S+)/.exec(line);
    if (via && last.nextHop === '') last.nextHop = via[1] ?? '';
    const nh = /^\s+BGP\.next_hop: (\S+)/.exec(line);
    if (nh) last.nextHop = nh[1] ?? '';
  }
  return out;
}

/** A running bird. */
export interface Bird extends Router {
  readonly kind: 'bird';
  /** Runs `birdc <args>`; resolves with what it printed. */
  birdc(...args: string[]): Promise<string>;
  /** `show protocols all` of the protocol for neighbor `peer`, parsed. */
  protocol(peer: string): Promise<BirdProtocol>;
}

/** Where bird runs. */
export interface BirdOptions extends RouterOptions {
  readonly link: RouterLink;
}

/** bird's configuration for `o`: protocol `n<i>` for neighbor i. */
export function birdConf(o: BirdOptions): string {
  const lines = ['log stderr all;', `router id ${o.routerId};`, 'protocol device { }'];
  o.neighbors.forEach((n, i) => {
    const hold = n.holdSec ?? 90;
    lines.push(
      `protocol bgp n${i} {`,
      ...(n.disabled === true ? ['  disabled;'] : []),
      `  local ${o.link.routerV4} port ${o.listenPort ?? 179} as ${o.asn};`,
      `  neighbor ${n.address} port ${n.port ?? 179} as ${n.asn};`,
      `  hold time ${hold};`,
      `  keepalive time ${n.keepaliveSec ?? Math.max(1, Math.floor(hold / 3))};`,
      '  connect retry time 1;',
      '  connect delay time 1;',
      '  error wait time 1, 4;',
      `  passive ${n.passive === true ? 'on' : 'off'};`,
      ...(n.gracefulRestartSec === undefined
        ? ['  graceful restart off;']
        : ['  graceful restart on;', `  graceful restart time ${n.gracefulRestartSec};`]),
      '  ipv4 { import all; export none; };',
      '  ipv6 { import all; export none; };',
      '}',
    );
  });
  return `${lines.join('\n')}\n`;
}

/** Starts bird in `o.link`'s namespace and waits until birdc answers. */
export async function startBird(td: Teardown, o: BirdOptions): Promise<Bird> {
  const dir = routerDir(td, 'cellium-bird-');
  const conf = join(dir, 'bird.conf');
  const ctl = join(dir, 'bird.ctl');
  writeFileSync(conf, birdConf(o));
  const daemon = new Daemon(
    `bird in ${o.link.ns}`,
    ['bird', '-f', '-c', conf, '-s', ctl, '-P', join(dir, 'bird.pid')],
    o.link.ns,
    td,
  );
  const birdc = (...args: string[]): Promise<string> => cmdAsync('birdc', ['-s', ctl, ...args]);
  const ready = async (): Promise<void> => {
    for (let i = 0; ; i++) {
      if (!daemon.running) throw new Error(`${daemon.name} exited:\n${daemon.logs()}`);
      if (
        await birdc('show', 'status').then(
          (s) => s.includes('Daemon is up'),
          () => false,
        )
      )
        return;
      if (i > 1500) throw new Error(`${daemon.name} never answered birdc:\n${daemon.logs()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const protoName = (peer: string): string => {
    const i = o.neighbors.findIndex((n) => n.address === peer);
    if (i < 0) throw new Error(`bird has no neighbor ${peer}`);
    return `n${i}`;
  };
  const protocol = async (peer: string): Promise<BirdProtocol> =>
    parseBirdProtocol(await birdc('show', 'protocols', 'all', protoName(peer)));
  daemon.start();
  await ready();
  return {
    kind: 'bird',
    link: o.link,
    daemon,
    birdc,
    protocol,
    session: async (peer): Promise<RouterSession> => {
      const p = await protocol(peer);
      return { state: p.bgpState, peerRestarting: p.grActive, gracefulRestart: p.grNegotiated };
    },
    routes: async (family): Promise<RouterRoute[]> => {
      const table = family === 'ipv4' ? 'master4' : 'master6';
      const text = await birdc('show', 'route', 'all', 'table', table);
      const restarting = new Map<string, boolean>();
      const out: RouterRoute[] = [];
      for (const r of parseBirdRoutes(text)) {
        const i = Number(/^n(\d+)$/.exec(r.protocol)?.[1] ?? NaN);
        const n = o.neighbors[i];
        if (!n) continue;
        if (!restarting.has(r.protocol))
          restarting.set(r.protocol, (await protocol(n.address)).grActive);
        out.push({
          prefix: r.prefix,
          nextHop: r.nextHop,
          stale: r.llgrStale || restarting.get(r.protocol) === true,
          best: r.primary,
          from: n.address,
        });
      }
      return out;
    },
    restart: async () => {
      await daemon.signal('SIGTERM');
      daemon.start();
      await ready();
    },
  };
}
