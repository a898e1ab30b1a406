// A real etcd (Debian's etcd-server, /usr/bin/etcd) for tests: its own ports, name and data
// directory, started, stopped, killed, restarted and paused by the test, and always cleaned up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { freePort } from '../../core/testing/ports.js';

/** How to start a test etcd. */
export interface EtcdOptions {
  /** Run it inside this network namespace (`ip netns exec`), listening on `host`. */
  readonly netns?: string;
  /** The address it listens on (default 127.0.0.1). */
  readonly host?: string;
  /** The client port (default: a free one); e.g. one an agent already points at. */
  readonly port?: number;
  /** Its data directory (default: a fresh temporary one, removed on cleanup). */
  readonly dataDir?: string;
  /**
   * 'test' (default): stopped and removed when the current test finishes. 'suite': the caller
   * calls `destroy()` (from afterAll), for an etcd shared by a file's tests.
   */
  readonly scope?: 'test' | 'suite';
}

/** A running test etcd. */
export interface TestEtcd {
  /** The client URL, `http://<host>:<port>`. */
  readonly endpoint: string;
  /** Same as `endpoint` (etcd's own name for it). */
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly name: string;
  /** Whether its process runs (it may be paused). */
  readonly running: boolean;
  /** SIGTERM, waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILL, waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same data directory and ports; waits until it serves. */
  restart(): Promise<void>;
  /** SIGSTOP: the process stays, connections hang. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Kills it and removes its data directory (if the helper made it). */
  destroy(): Promise<void>;
}

const ETCD = process.env.CELLIUM_TEST_ETCD || 'etcd';
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

let setpriv: boolean | undefined;
function hasSetpriv(): boolean {
  if (setpriv === undefined) {
    const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    setpriv = r.error === undefined && r.stdout.includes('--pdeathsig');
  }
  return setpriv;
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

/** Starts a real etcd and waits until it serves client requests. */
export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  const host = opts.host ?? '127.0.0.1';
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'cellium-etcd-'));
  const [clientPort, peerPort] = [opts.port ?? (await freePort()), await freePort()];
  const name = `cellium-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const endpoint = `http://${host}:${clientPort}`;
  const peerUrl = `http://${host}:${peerPort}`;
  const args = [
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    endpoint,
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    `${name}=${peerUrl}`,
    '--initial-cluster-token',
    name,
  ];
  const etcdCmd = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ETCD, ...args] : [ETCD, ...args];
  // Killed with the test process even when that dies by SIGKILL (a timed-out worker).
  const cmd = hasSetpriv() ? ['setpriv', '--pdeathsig', 'KILL', ...etcdCmd] : etcdCmd;
  let proc: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const [bin = ETCD, ...rest] = cmd;
    const p = spawn(bin, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    live.add(p);
    p.once('exit', () => live.delete(p));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        log = (log + d.toString()).slice(-8192);
        if (log.includes('ready to serve client requests')) {
          p.stderr.off('data', onData);
          p.stdout.off('data', onData);
          resolve();
        }
      };
      p.stderr.on('data', onData);
      p.stdout.on('data', onData);
      p.once('error', reject);
      p.once('exit', (code, signal) =>
        reject(new Error(`etcd exited (${code ?? signal}) before serving ${endpoint}:\n${log}`)),
      );
    });
    // Keep draining its output so a full pipe never blocks it.
    p.stderr.resume();
    p.stdout.resume();
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const p = proc;
    if (!p) return;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGCONT');
      p.kill(sig);
    }
    await exited(p);
    proc = undefined;
  };

  const etcd: TestEtcd = {
    endpoint,
    clientUrl: endpoint,
    dataDir,
    name,
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    restart: async () => {
      await signal('SIGTERM');
      await launch();
    },
    pause: () => proc?.kill('SIGSTOP'),
    resume: () => proc?.kill('SIGCONT'),
    destroy: async () => {
      await signal('SIGKILL');
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if ((opts.scope ?? 'test') === 'test') onTestFinished(() => etcd.destroy());
  try {
    await launch();
  } catch (e) {
    await etcd.destroy();
    throw e;
  }
  return etcd;
}

/** A TCP relay in front of an etcd that a test can cut (a network partition) and heal. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: give this to the client under test. */
  readonly endpoint: string;
  /** Drops every connection and refuses new ones until heal(). */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** Relays 127.0.0.1:<free port> to `target` (`http://host:port`); closed when the test finishes. */
export async function tcpProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  let cut = false;
  const server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(url.port), url.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const proxy: TcpProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    cut: () => {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    heal: () => {
      cut = false;
    },
    close: async () => {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  onTestFinished(() => proxy.close());
  return proxy;
}
