// Real BGP routers for the interop tests and the BGP benchmark: gobgpd and bird, each in a network
// namespace of its own joined to the host namespace by a veth pair, configured from a temporary
// directory, read back as JSON (gobgp) or parsed text (birdc), and torn down whatever happens.
// No vitest import here: the benchmark uses the same routers outside a test.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Commands the router tests run (kernelSuite fails CI by these names when one is missing). */
export const ROUTER_COMMANDS = ['ip', 'setpriv', 'gobgpd', 'gobgp', 'bird', 'birdc'] as const;

/** Cleanups run last-in first-out when a test (onTestFinished) or a benchmark run ends. */
export class Teardown {
  private readonly fns: (() => void | Promise<void>)[] = [];

  /** Registers a cleanup; it runs before those registered earlier. */
  add(fn: () => void | Promise<void>): void {
    this.fns.push(fn);
  }

  /** Runs every cleanup (each once), the last added first; a failing one does not stop the rest. */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'router cleanup failed');
  }
}

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export function cmd(bin: string, args: readonly string[]): string {
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command without blocking the event loop (the agent under test shares this process's peers). */
export function cmdAsync(bin: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** A fresh temporary directory, removed by the teardown. */
export function routerDir(td: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  td.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A router's namespace and the veth pair joining it to the host namespace, with its addresses. */
export interface RouterLink {
  /** The router's network namespace. */
  readonly ns: string;
  /** The veth end in the host namespace (the router's end is `eth0`). */
  readonly hostIf: string;
  /** Host-side and router-side addresses of the link's /30 and /126 (no prefix length). */
  readonly hostV4: string;
  readonly routerV4: string;
  readonly hostV6: string;
  readonly routerV6: string;
}

/** Addresses on the host now (a new link must not reuse one). */
function hostAddresses(): Set<string> {
  const all = JSON.parse(cmd('ip', ['-j', 'addr', 'show'])) as {
    addr_info?: { local?: string }[];
  }[];
  return new Set(all.flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? '')));
}

/**
 * Makes a namespace `<prefix>-<random>` and a veth pair to it. The addresses are a random /30 of
 * 10.179.0.0/16 and the /126 fd79:b6b:<n>::/126 with the same n: ranges no other test uses.
 */
export function routerLink(td: Teardown, prefix = 'cbgp'): RouterLink {
  const used = hostAddresses();
  let n = 0;
  do n = randomBytes(2).readUInt16BE(0) % 16384;
  while (used.has(`10.179.${n >> 6}.${((n & 63) << 2) + 1}`));
  const id = randomBytes(3).toString('hex');
  const ns = `${prefix}-${id}`;
  const hostIf = `bgp${id}`;
  const base = `10.179.${n >> 6}.${(n & 63) << 2}`.split('.').map(Number);
  const v4 = (k: number): string => `10.179.${n >> 6}.${(base[3] ?? 0) + k}`;
  const v6 = (k: number): string => `fd79:b6b:${n.toString(16)}::${k}`;
  const link: RouterLink = {
    ns,
    hostIf,
    hostV4: v4(1),
    routerV4: v4(2),
    hostV6: v6(1),
    routerV6: v6(2),
  };
  cmd('ip', ['netns', 'add', ns]);
  td.add(() => {
    // The namespace goes (and the veth with it) once no process is left in it.
    for (const [bin, args] of [
      ['ip', ['link', 'del', hostIf]],
      ['ip', ['netns', 'del', ns]],
    ] as const) {
      try {
        cmd(bin, args);
      } catch {
        // already gone
      }
    }
  });
  cmd('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  cmd('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  cmd('ip', ['addr', 'add', `${link.hostV4}/30`, 'dev', hostIf]);
  cmd('ip', ['addr', 'add', `${link.hostV6}/126`, 'dev', hostIf, 'nodad']);
  cmd('ip', ['-n', ns, 'addr', 'add', `${link.routerV4}/30`, 'dev', 'eth0']);
  cmd('ip', ['-n', ns, 'addr', 'add', `${link.routerV6}/126`, 'dev', 'eth0', 'nodad']);
  cmd('ip', ['link', 'set', hostIf, 'up']);
  cmd('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  return link;
}

/** A daemon run by the harness: in a namespace (or the host's), killed with this process. */
export class Daemon {
  private proc: ChildProcess | undefined;
  private log = '';

  constructor(
    /** What it is, for errors ("gobgpd in cbgp-1a2b3c"). */
    readonly name: string,
    private readonly argv: readonly string[],
    /** A namespace to run in; undefined: the host namespace. */
    private readonly ns: string | undefined,
    td: Teardown,
  ) {
    td.add(() => this.signal('SIGKILL'));
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  /** Whether its process is alive (it may be stopped). */
  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last 64 KiB it printed. */
  logs(): string {
    return this.log;
  }

  /** Starts it (it must not be running). */
  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const inNs = this.ns === undefined ? [] : ['ip', 'netns', 'exec', this.ns];
    // setpriv and `ip netns exec` exec in place: the pid is the daemon's, so signals reach it.
    const args = ['--pdeathsig', 'KILL', ...inNs, ...this.argv];
    const p = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer): void => {
      this.log = (this.log + d.toString()).slice(-65536);
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    p.on('error', (e) => keep(Buffer.from(`spawn failed: ${e.message}\n`)));
    this.proc = p;
  }

  /** Sends a signal (SIGCONT first, so a frozen daemon dies) and waits for it to exit. */
  async signal(sig: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGCONT');
    p.kill(sig);
    await exited;
  }

  /** SIGSTOP: the process stays, its sessions go silent. */
  freeze(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** SIGCONT. */
  thaw(): void {
    this.proc?.kill('SIGCONT');
  }
}

/** The router-independent view of one path in a router's RIB. */
export interface RouterRoute {
  readonly prefix: string;
  readonly nextHop: string;
  /** Kept from a session that went down while graceful restart runs (not yet refreshed). */
  readonly stale: boolean;
  readonly best: boolean;
  /** The neighbor it was learnt from. */
  readonly from: string;
}

/** The router-independent view of one session. */
export interface RouterSession {
  /** RFC 4271 state name in lowercase ('established', 'active', 'idle', …). */
  readonly state: string;
  /** The peer is restarting gracefully: its routes are held as stale. */
  readonly peerRestarting: boolean;
  /** Graceful restart negotiated on the session (both sent the capability). */
  readonly gracefulRestart: boolean;
}

/** A neighbor of a test router (the agent, or another router). */
export interface RouterNeighbor {
  readonly address: string;
  readonly asn: number;
  /** The peer's port (when the router connects); 179 by default. */
  readonly port?: number;
  /** Only accept the peer's connection. */
  readonly passive?: boolean;
  readonly holdSec?: number;
  readonly keepaliveSec?: number;
  /** Helper (receiving speaker) graceful restart with this restart time; off if undefined. */
  readonly gracefulRestartSec?: number;
  /** Configured but disabled until enabled at run time (gobgpd admin-down, bird `disabled`). */
  readonly disabled?: boolean;
}

/** What a router is started with. */
export interface RouterOptions {
  readonly asn: number;
  readonly routerId: string;
  readonly neighbors: readonly RouterNeighbor[];
  /** Port it accepts sessions on (179 in its namespace by default; -1: none). */
  readonly listenPort?: number;
}

/** A running test router of either kind. */
export interface Router {
  readonly kind: 'gobgpd' | 'bird';
  /** Its namespace and link (a gobgpd in the host namespace: ns '', its local address as v4). */
  readonly link: RouterLink;
  readonly daemon: Daemon;
  /** Its view of the session with `peer`. */
  session(peer: string): Promise<RouterSession>;
  /** Its RIB for a family: every path, as the router shows it. */
  routes(family: 'ipv4' | 'ipv6'): Promise<RouterRoute[]>;
  /** SIGTERM, then the same configuration again; resolves once it answers its CLI. */
  restart(): Promise<void>;
}

/**
 * Polls `read` until `ok` holds for what it returned; on timeout fails with `what`, the last
 * value read (or error) and `context()` (daemon logs), so a failure says what was seen.
 */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  opts: { readonly timeoutMs?: number; readonly context?: () => string } = {},
): Promise<T> {
  const end = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: string = 'nothing read';
  for (;;) {
    try {
      const v = await read();
      if (ok(v)) return v;
      last = JSON.stringify(v);
    } catch (e) {
      last = `error: ${(e as Error).message}`;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}; last: ${last}\n${opts.context?.() ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
