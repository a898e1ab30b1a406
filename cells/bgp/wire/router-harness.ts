// A harness for testing the codec against real routers on loopback (gobgpd.test.ts,
// bird.test.ts): the router process and a BGP session driven by the codec alone.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeKeepalive } from './control.js';
import { decodeMessage } from './decode.js';
import { MessageReader } from './message-reader.js';
import { encodeOpen } from './open.js';
import { packUpdates, packWithdrawals } from './pack.js';
import type { Family, Message, OpenMsg, PathAttrs, UpdateMsg, WireContext } from './types.js';
import { encodeEndOfRib, endOfRibFamily } from './update.js';

/** execFile as a promise. */
export const exec = promisify(execFile);
/** The AS the codec's sessions speak as: a 4-octet one. */
export const MY_AS = 4200000001;
/** The attributes of the routes the codec announces. */
export const ATTRS: PathAttrs = {
  origin: 0,
  asPath: [{ type: 2, asns: [MY_AS] }],
  communities: [0xfde90001], // 65001:1
  largeCommunities: [[MY_AS, 7, 8]],
  unknown: [],
};
/** The 1,000 IPv4 prefixes the codec announces. */
export const V4 = Array.from({ length: 1000 }, (_, i) => `10.200.${i >> 2}.${(i & 3) * 64}/26`);
/** The 1,000 IPv6 prefixes the codec announces. */
export const V6 = Array.from({ length: 1000 }, (_, i) => `fd00:200:${i.toString(16)}::/48`);

/** Waits `ms` milliseconds (between polls). */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A BGP session driven by the codec from 127.0.0.1, collecting every message the router sends. */
export class RawSession {
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
export class Router {
  private tmp: string | undefined;

  /** The router's directory, made on first use (not when a filtered-out suite is collected). */
  get dir(): string {
    this.tmp ??= mkdtempSync(join(tmpdir(), 'cellium-bgp-wire-'));
    return this.tmp;
  }

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
    if (this.tmp !== undefined) rmSync(this.tmp, { recursive: true, force: true });
  }
}
