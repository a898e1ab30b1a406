// The codec against a real router: gobgpd on loopback decodes what the codec encodes (an
// OPEN with a 4-octet AS, 1,000 packed IPv4 and IPv6 routes, their withdrawal, End-of-RIB)
// and the codec decodes what gobgpd sends (its OPEN, UPDATEs with communities, MP_REACH_NLRI,
// End-of-RIB). No root: gobgpd listens on random loopback ports, its pprof off.
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
import type { Message, OpenMsg, PathAttrs, UpdateMsg, WireContext } from './types.js';
import { encodeEndOfRib, endOfRibFamily } from './update.js';

const run = promisify(execFile);
const MY_AS = 4200000001;
const CTX: WireContext = { as4: true, ibgp: false };

/** A BGP connection driven by the codec, collecting every message gobgpd sends. */
class RawSession {
  readonly got: Message[] = [];
  closed = false;
  private readonly reader = new MessageReader();

  constructor(readonly sock: Socket) {
    sock.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let m = this.reader.next(); m; m = this.reader.next()) {
        if ('error' in m) throw new Error(`gobgpd sent a bad header: ${m.error.reason}`);
        const d = decodeMessage(m.type, m.body, CTX);
        if (!d.ok) throw new Error(`gobgpd sent what the codec refuses: ${d.error.reason}`);
        if (d.treatAsWithdraw)
          throw new Error(`gobgpd sent a malformed UPDATE: ${d.treatAsWithdraw}`);
        this.got.push(d.msg);
      }
    });
    sock.on('close', () => (this.closed = true));
  }

  send(bytes: readonly Uint8Array[]): void {
    for (const b of bytes) this.sock.write(b);
  }

  /** Waits (polling) until a message satisfies `pred`. */
  async waitFor<T extends Message>(what: string, pred: (m: Message) => m is T): Promise<T> {
    for (;;) {
      const m = this.got.find(pred);
      if (m) return m;
      if (this.closed)
        throw new Error(`session closed waiting for ${what}: ${JSON.stringify(this.got.at(-1))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

kernelSuite('codec against gobgpd', { root: false, commands: ['gobgpd', 'gobgp'] }, () => {
  let dir = '';
  let gobgpd: ChildProcess | undefined;
  let api = 0;
  let bgpPort = 0;
  let session: RawSession | undefined;
  const gobgp = async (...args: string[]) =>
    (await run('gobgp', ['-u', '127.0.0.1', '-p', String(api), ...args])).stdout;
  const destinations = async (afi: string) =>
    Number(/Destination: (\d+)/.exec(await gobgp('global', 'rib', 'summary', '-a', afi))?.[1]);
  const until = async (what: string, f: () => Promise<boolean>) => {
    while (!(await f().catch(() => false))) {
      if (gobgpd?.exitCode !== null) throw new Error(`gobgpd exited waiting for ${what}`);
      if (session?.closed) throw new Error(`gobgpd closed the session waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellium-bgp-wire-'));
    [api, bgpPort] = [await freePort(), await freePort()];
    const conf = join(dir, 'gobgpd.toml');
    writeFileSync(
      conf,
      `[global.config]
  as = 65000
  router-id = "127.0.0.2"
  port = ${bgpPort}
  local-address-list = ["127.0.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = ${MY_AS}
  [neighbors.transport.config]
    passive-mode = true
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
`,
    );
    gobgpd = spawn(
      'gobgpd',
      ['-f', conf, '--api-hosts', `127.0.0.1:${api}`, '--pprof-disable', '-p'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let log = '';
    gobgpd.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    await until(`gobgpd's API (log: ${log})`, async () =>
      (await gobgp('global')).includes('65000'),
    );
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
    await gobgp('global', 'rib', 'add', 'fd00:10::/64', '-a', 'ipv6');
  });

  afterAll(() => {
    session?.sock.destroy();
    if (gobgpd?.pid !== undefined && gobgpd.exitCode === null) gobgpd.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exchanges OPENs: gobgpd reads the 4-octet AS, the codec reads its capabilities', async () => {
    const sock = connect(bgpPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) =>
      sock.once('connect', resolve).once('error', reject),
    );
    session = new RawSession(sock);
    const open: Omit<OpenMsg, 'type'> = {
      version: 4,
      myAs: 23456,
      holdTimeSec: 90,
      bgpId: '127.0.0.9',
      caps: {
        multiprotocol: ['ipv4-unicast', 'ipv6-unicast'],
        routeRefresh: true,
        as4: MY_AS,
        gracefulRestart: { restarting: false, restartTimeSec: 120, families: [] },
        unknown: [],
      },
    };
    session.send([encodeOpen(open)]);
    const theirs = await session.waitFor('OPEN', (m): m is OpenMsg => m.type === 'open');
    expect(theirs).toMatchObject({ version: 4, myAs: 65000, bgpId: '127.0.0.2', holdTimeSec: 90 });
    expect(theirs.caps).toMatchObject({ routeRefresh: true, as4: 65000 });
    expect(new Set(theirs.caps.multiprotocol)).toEqual(new Set(['ipv4-unicast', 'ipv6-unicast']));
    expect(theirs.caps.gracefulRestart?.restartTimeSec).toBe(120);
    session.send([encodeKeepalive()]);
    await session.waitFor('KEEPALIVE', (m): m is Message => m.type === 'keepalive');
    await until('Established in gobgpd', async () =>
      /ESTABLISHED/i.test(await gobgp('neighbor', '127.0.0.1')),
    );
  });

  it("decodes gobgpd's routes with their attributes and its End-of-RIB for both families", async () => {
    const s = session!;
    const isEor =
      (f: string) =>
      (m: Message): m is UpdateMsg =>
        m.type === 'update' && endOfRibFamily(m) === f;
    await s.waitFor('IPv4 End-of-RIB', isEor('ipv4-unicast'));
    await s.waitFor('IPv6 End-of-RIB', isEor('ipv6-unicast'));
    const v4 = s.got.find(
      (m): m is UpdateMsg => m.type === 'update' && m.nlri.includes('10.10.0.0/24'),
    );
    expect(v4?.attrs).toMatchObject({
      origin: 0,
      asPath: [{ type: 2, asns: [65000] }],
      nextHop: '127.0.0.1',
      med: 10,
      communities: [0xfde80064],
      largeCommunities: [[65000, 1, 2]],
    });
    const v6 = s.got.find(
      (m): m is UpdateMsg =>
        m.type === 'update' && (m.mpReach?.nlri.includes('fd00:10::/64') ?? false),
    );
    expect(v6?.attrs?.asPath).toEqual([{ type: 2, asns: [65000] }]);
    expect(v6?.mpReach?.nextHops.length).toBeGreaterThan(0);
  });

  it('gobgpd takes 1,000 packed IPv4 and IPv6 routes with their attributes, then their withdrawal', async () => {
    const s = session!;
    const attrs: PathAttrs = {
      origin: 0,
      asPath: [{ type: 2, asns: [MY_AS] }],
      communities: [0xfde90001],
      largeCommunities: [[MY_AS, 7, 8]],
      unknown: [],
    };
    const v4 = Array.from({ length: 1000 }, (_, i) => `10.200.${i >> 2}.${(i & 3) * 64}/26`);
    const v6 = Array.from({ length: 1000 }, (_, i) => `fd00:200:${i.toString(16)}::/48`);
    s.send(
      packUpdates(
        'ipv4-unicast',
        v4.map((prefix) => ({ prefix, nextHop: '192.0.2.9', attrs })),
        CTX,
      ),
    );
    s.send(
      packUpdates(
        'ipv6-unicast',
        v6.map((prefix) => ({ prefix, nextHop: 'fd00::9', attrs })),
        CTX,
      ),
    );
    s.send([encodeEndOfRib('ipv4-unicast'), encodeEndOfRib('ipv6-unicast')]);
    await until('1,001 IPv4 routes in gobgpd', async () => (await destinations('ipv4')) === 1001);
    await until('1,001 IPv6 routes in gobgpd', async () => (await destinations('ipv6')) === 1001);
    const route = await gobgp('global', 'rib', '-a', 'ipv6', 'fd00:200:3e7::/48');
    expect(route).toContain('fd00::9');
    expect(route).toContain(String(MY_AS));
    expect(route).toContain('65001:1');
    expect(route).toContain(`${MY_AS}:7:8`);
    const v4route = await gobgp('global', 'rib', '-a', 'ipv4', '10.200.249.192/26');
    expect(v4route).toContain('192.0.2.9');
    expect(v4route).toContain('65001:1');
    s.send(packWithdrawals('ipv4-unicast', v4, CTX));
    s.send(packWithdrawals('ipv6-unicast', v6, CTX));
    await until(
      'the withdrawals in gobgpd',
      async () => (await destinations('ipv4')) === 1 && (await destinations('ipv6')) === 1,
    );
    expect(s.closed).toBe(false);
  });
});
