// The codec against real routers on loopback, gobgpd and BIRD: they take what the codec
// encodes (an OPEN with a 4-octet AS, 1,000 packed IPv4 and IPv6 routes with communities,
// End-of-RIB, the withdrawals) and the codec decodes what they send (their OPENs, routes
// with communities, MP_REACH_NLRI, End-of-RIB). No root: random loopback ports, gobgpd's
// pprof off, BIRD without a kernel protocol.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelSuite } from '../../../core/testing/kernel.js';
import { freePort } from '../../../core/testing/ports.js';
import { encodeKeepalive } from './control.js';
import { decodeMessage } from './decode.js';
import { MessageReader } from './message-reader.js';
import { encodeOpen } from './open.js';
import { packUpdates, packWithdrawals } from './pack.js';
import type { Family, Message, OpenMsg, PathAttrs, UpdateMsg, WireContext } from './types.js';
import { encodeEndOfRib, endOfRibFamily } from './update.js';

const exec = promisify(execFile);
const MY_AS = 4200000001;
const ATTRS: PathAttrs = {
  origin: 0,
  asPath: [{ type: 2, asns: [MY_AS] }],
  communities: [0xfde90001], // 65001:1
  largeCommunities: [[MY_AS, 7, 8]],
  unknown: [],
};
const V4 = Array.from({ length: 1000 }, (_, i) => `10.200.${i >> 2}.${(i & 3) * 64}/26`);
const V6 = Array.from({ length: 1000 }, (_, i) => `fd00:200:${i.toString(16)}::/48`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A BGP session driven by the codec from 127.0.0.1, collecting every message the router sends. */
class RawSession {
  readonly got: Message[] = [];
  closed = false;
  private readonly reader = new MessageReader();
  private problem: string | undefined;

  private constructor(
    readonly sock: Socket,
    readonly ctx: WireContext,
  ) {
    sock.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let m = this.reader.next(); m; m = this.reader.next()) {
        if ('error' in m) {
          this.problem = `bad header: ${m.error.reason}`;
          return;
        }
        const d = decodeMessage(m.type, m.body, this.ctx);
        if (!d.ok) this.problem = `refused: ${d.error.reason}`;
        else if (d.treatAsWithdraw) this.problem = `malformed UPDATE: ${d.treatAsWithdraw}`;
        else this.got.push(d.msg);
      }
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => (this.closed = true));
  }

  /**
   * Connects from `local`, exchanges OPENs and KEEPALIVEs; the router's OPEN. Without `as4`
   * the session is 2-octet: AS 65001 and no 4-octet AS capability (RFC 6793's old speaker).
   */
  static async establish(
    host: string,
    port: number,
    local = '127.0.0.1',
    as4 = true,
  ): Promise<[RawSession, OpenMsg]> {
    const sock = connect({ host, port, localAddress: local });
    await new Promise<void>((resolve, reject) =>
      sock.once('connect', resolve).once('error', reject),
    );
    const s = new RawSession(sock, { as4, ibgp: false });
    s.send([
      encodeOpen({
        version: 4,
        myAs: as4 ? 23456 : 65001,
        holdTimeSec: 90,
        bgpId: '127.0.0.9',
        caps: {
          multiprotocol: ['ipv4-unicast', 'ipv6-unicast'],
          routeRefresh: true,
          ...(as4 && { as4: MY_AS }),
          gracefulRestart: { restarting: false, restartTimeSec: 120, families: [] },
          unknown: [],
        },
      }),
    ]);
    const open = await s.waitFor('OPEN', (m): m is OpenMsg => m.type === 'open');
    s.send([encodeKeepalive()]);
    await s.waitFor('KEEPALIVE', (m): m is Message => m.type === 'keepalive');
    return [s, open];
  }

  send(bytes: readonly Uint8Array[]): void {
    for (const b of bytes) this.sock.write(b);
  }

  /** Throws when the router closed the session or sent what the codec refuses. */
  check(what: string): void {
    if (this.problem)
      throw new Error(
        `the router sent what the codec refuses (${this.problem}) waiting for ${what}`,
      );
    if (this.closed)
      throw new Error(
        `the router closed the session waiting for ${what}: ${JSON.stringify(this.got.at(-1))}`,
      );
  }

  /** Waits (polling) until a message satisfies `pred`. */
  async waitFor<T extends Message>(what: string, pred: (m: Message) => m is T): Promise<T> {
    for (;;) {
      const m = this.got.find(pred);
      if (m) return m;
      this.check(what);
      await sleep(20);
    }
  }

  /** Waits for the End-of-RIB of both families; the UPDATEs announcing a prefix, by prefix. */
  async routes(): Promise<Map<string, UpdateMsg>> {
    const eor =
      (f: Family) =>
      (m: Message): m is UpdateMsg =>
        m.type === 'update' && endOfRibFamily(m) === f;
    await this.waitFor('IPv4 End-of-RIB', eor('ipv4-unicast'));
    await this.waitFor('IPv6 End-of-RIB', eor('ipv6-unicast'));
    const out = new Map<string, UpdateMsg>();
    for (const m of this.got) {
      if (m.type !== 'update') continue;
      for (const p of [...m.nlri, ...(m.mpReach?.nlri ?? [])]) out.set(p, m);
    }
    return out;
  }

  /** Sends the 1,000 IPv4 and IPv6 routes and End-of-RIB. */
  announce(v4NextHop: string, v6NextHop: string, attrs = ATTRS): void {
    const v4 = V4.map((prefix) => ({ prefix, nextHop: v4NextHop, attrs }));
    const v6 = V6.map((prefix) => ({ prefix, nextHop: v6NextHop, attrs }));
    this.send(packUpdates('ipv4-unicast', v4, this.ctx));
    this.send(packUpdates('ipv6-unicast', v6, this.ctx));
    this.send([encodeEndOfRib('ipv4-unicast'), encodeEndOfRib('ipv6-unicast')]);
  }

  withdraw(): void {
    this.send(packWithdrawals('ipv4-unicast', V4, this.ctx));
    this.send(packWithdrawals('ipv6-unicast', V6, this.ctx));
  }
}

/** A router process the suite starts, with a temporary directory, both removed afterwards. */
class Router {
  readonly dir = mkdtempSync(join(tmpdir(), 'cellium-bgp-wire-'));
  proc: ChildProcess | undefined;
  log = '';
  session: RawSession | undefined;

  start(cmd: string, args: readonly string[]): void {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (c: Buffer) => (this.log = (this.log + c.toString()).slice(-4000));
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
  }

  /** Polls `f` until it holds, failing when the router or the session died meanwhile. */
  async until(what: string, f: () => Promise<boolean>): Promise<void> {
    while (!(await f().catch(() => false))) {
      if (this.proc?.exitCode !== null)
        throw new Error(`router exited waiting for ${what}: ${this.log}`);
      this.session?.check(what);
      await sleep(50);
    }
  }

  stop(): void {
    this.session?.sock.destroy();
    if (this.proc?.pid !== undefined && this.proc.exitCode === null) this.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

kernelSuite('codec against gobgpd', { root: false, commands: ['gobgpd', 'gobgp'] }, () => {
  const r = new Router();
  let api = 0;
  let port = 0;
  const gobgp = async (...args: string[]) =>
    (await exec('gobgp', ['-u', '127.0.0.1', '-p', String(api), ...args])).stdout;
  const count = async (afi: string) =>
    Number(/Destination: (\d+)/.exec(await gobgp('global', 'rib', 'summary', '-a', afi))?.[1]);

  beforeAll(async () => {
    [api, port] = [await freePort(), await freePort()];
    const conf = join(r.dir, 'gobgpd.toml');
    writeFileSync(
      conf,
      `[global.config]
  as = 65000
  router-id = "127.0.0.2"
  port = ${port}
  local-address-list = ["127.0.0.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = ${MY_AS}
  [neighbors.transport.config]
    passive-mode = true
    local-address = "127.0.0.2"
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 120
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.5"
    peer-as = 65001
  [neighbors.transport.config]
    passive-mode = true
    local-address = "127.0.0.2"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`,
    );
    r.start('gobgpd', ['-f', conf, '--api-hosts', `127.0.0.1:${api}`, '--pprof-disable', '-p']);
    await r.until("gobgpd's API", async () => (await gobgp('global')).includes('65000'));
    await gobgp(
      'global',
      'rib',
      'add',
      '10.10.0.0/24',
      '-a',
      'ipv4',
      'origin',
      'igp',
      'community',
      '65000:100',
      'large-community',
      '65000:1:2',
      'med',
      '10',
    );
    await gobgp('global', 'rib', 'add', 'fd00:10::/64', '-a', 'ipv6', 'origin', 'igp');
    await gobgp(
      'global',
      'rib',
      'add',
      '10.30.0.0/24',
      '-a',
      'ipv4',
      'origin',
      'igp',
      'aspath',
      '4200000005,65010',
    );
  });
  afterAll(() => r.stop());

  it('exchanges OPENs: gobgpd reads the 4-octet AS, the codec reads its capabilities', async () => {
    const [s, open] = await RawSession.establish('127.0.0.2', port);
    r.session = s;
    expect(open).toMatchObject({ version: 4, myAs: 65000, bgpId: '127.0.0.2', holdTimeSec: 90 });
    expect(open.caps).toMatchObject({ routeRefresh: true, as4: 65000 });
    expect(new Set(open.caps.multiprotocol)).toEqual(new Set(['ipv4-unicast', 'ipv6-unicast']));
    expect(open.caps.gracefulRestart?.restartTimeSec).toBe(120);
    await r.until('Established in gobgpd', async () => /Establ/.test(await gobgp('neighbor')));
  });

  it("decodes gobgpd's routes with their attributes and End-of-RIB", async () => {
    const got = await r.session!.routes();
    expect(got.get('10.10.0.0/24')?.attrs).toMatchObject({
      origin: 0,
      asPath: [{ type: 2, asns: [65000] }],
      nextHop: '127.0.0.2',
      med: 10,
      communities: [0xfde80064],
      largeCommunities: [[65000, 1, 2]],
    });
    expect(got.get('fd00:10::/64')?.attrs?.asPath).toEqual([{ type: 2, asns: [65000] }]);
    expect(got.get('fd00:10::/64')?.mpReach?.nextHops.length).toBeGreaterThan(0);
  });

  it('gobgpd takes 1,000 packed IPv4 and IPv6 routes with their attributes, then their withdrawal', async () => {
    r.session!.announce('192.0.2.9', 'fd00::9');
    await r.until('1,001 IPv4 routes in gobgpd', async () => (await count('ipv4')) === 1002);
    await r.until('1,001 IPv6 routes in gobgpd', async () => (await count('ipv6')) === 1001);
    for (const [afi, prefix, nh] of [
      ['ipv4', V4[999]!, '192.0.2.9'],
      ['ipv6', V6[999]!, 'fd00::9'],
    ] as const) {
      const route = await gobgp('global', 'rib', '-a', afi, prefix);
      for (const text of [nh, String(MY_AS), '65001:1', `${MY_AS}:7:8`])
        expect(route).toContain(text);
    }
    r.session!.withdraw();
    await r.until(
      'the withdrawals in gobgpd',
      async () => (await count('ipv4')) === 2 && (await count('ipv6')) === 1,
    );
  });

  it('a 2-octet session (RFC 6793): both sides put 4-octet ASNs in AS4_PATH behind AS_TRANS', async () => {
    const [old, open] = await RawSession.establish('127.0.0.2', port, '127.0.0.5', false);
    try {
      expect(open.caps.as4).toBe(65000);
      const route = await old.waitFor(
        '10.30.0.0/24',
        (m): m is UpdateMsg => m.type === 'update' && m.nlri.includes('10.30.0.0/24'),
      );
      // gobgpd sent AS_PATH 65000 23456 65010 and AS4_PATH 65000 4200000005 65010: merged back.
      expect(route.attrs?.asPath).toEqual([{ type: 2, asns: [65000, 4200000005, 65010] }]);
      const attrs: PathAttrs = { ...ATTRS, asPath: [{ type: 2, asns: [65001, MY_AS] }] };
      old.send(
        packUpdates(
          'ipv4-unicast',
          [{ prefix: '10.40.0.0/24', nextHop: '192.0.2.9', attrs }],
          old.ctx,
        ),
      );
      await r.until('the 2-octet session route in gobgpd', async () =>
        (await gobgp('global', 'rib', '-a', 'ipv4', '10.40.0.0/24')).includes(`65001 ${MY_AS}`),
      );
    } finally {
      old.sock.destroy();
    }
  });
});

kernelSuite('codec against BIRD', { root: false, commands: ['bird', 'birdc'] }, () => {
  const r = new Router();
  let port = 0;
  const birdc = async (...args: string[]) =>
    (await exec('birdc', ['-s', join(r.dir, 'bird.ctl'), ...args])).stdout;
  const count = async (table: string) =>
    Number(
      new RegExp(`(\\d+) of \\d+ routes for \\d+ networks in table ${table}`).exec(
        await birdc('show', 'route', 'protocol', 'peer', 'count'),
      )?.[1] ?? 0,
    );

  beforeAll(async () => {
    port = await freePort();
    writeFileSync(
      join(r.dir, 'bird.conf'),
      `router id 127.0.0.3;
protocol device {}
protocol static s4 { ipv4; route 10.20.0.0/24 unreachable { bgp_community.add((65000,200)); bgp_large_community.add((65000,3,4)); }; }
protocol static s6 { ipv6; route fd00:20::/64 unreachable; }
protocol bgp peer {
  local 127.0.0.3 port ${port} as 65000;
  neighbor 127.0.0.1 as ${MY_AS};
  multihop;
  passive on;
  graceful restart on;
  ipv4 { import all; export all; };
  ipv6 { import all; export all; next hop address fd00::3; };
}
`,
    );
    r.start('bird', [
      '-f',
      '-c',
      join(r.dir, 'bird.conf'),
      '-s',
      join(r.dir, 'bird.ctl'),
      '-P',
      join(r.dir, 'bird.pid'),
    ]);
    await r.until("BIRD's control socket", async () =>
      (await birdc('show', 'status')).includes('Daemon is up'),
    );
  });
  afterAll(() => r.stop());

  it('exchanges OPENs: BIRD reads the 4-octet AS, the codec reads its capabilities', async () => {
    const [s, open] = await RawSession.establish('127.0.0.3', port);
    r.session = s;
    expect(open).toMatchObject({ version: 4, myAs: 65000, bgpId: '127.0.0.3' });
    expect(open.caps).toMatchObject({ routeRefresh: true, as4: 65000 });
    expect(new Set(open.caps.multiprotocol)).toEqual(new Set(['ipv4-unicast', 'ipv6-unicast']));
    expect(open.caps.gracefulRestart).toMatchObject({ restarting: false, restartTimeSec: 120 });
    await r.until('Established in BIRD', async () =>
      /Established/.test(await birdc('show', 'protocols', 'peer')),
    );
  });

  it("decodes BIRD's routes with their attributes and End-of-RIB", async () => {
    const got = await r.session!.routes();
    expect(got.get('10.20.0.0/24')?.attrs).toMatchObject({
      origin: 0,
      asPath: [{ type: 2, asns: [65000] }],
      nextHop: '127.0.0.3',
      communities: [0xfde800c8],
      largeCommunities: [[65000, 3, 4]],
    });
    expect(got.get('fd00:20::/64')?.mpReach?.nextHops[0]).toBe('fd00::3');
  });

  it('BIRD takes 1,000 packed IPv4 and IPv6 routes with their attributes, then their withdrawal', async () => {
    r.session!.announce('192.0.2.9', 'fd00::9');
    await r.until(
      '1,000 routes of each family in BIRD',
      async () => (await count('master4')) === 1000 && (await count('master6')) === 1000,
    );
    const route = await birdc('show', 'route', 'all', V6[999]!);
    for (const text of ['fd00::9', String(MY_AS), '(65001,1)', `(${MY_AS}, 7, 8)`])
      expect(route).toContain(text);
    r.session!.withdraw();
    await r.until(
      'the withdrawals in BIRD',
      async () => (await count('master4')) === 0 && (await count('master6')) === 0,
    );
  });
});
