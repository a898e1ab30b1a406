import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { ApiClient } from '../../core/api/index.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs one of the programs from its TypeScript source (no build needed). */
export function program(name: 'cellium-agent' | 'cellium' | 'cellium-cni'): string[] {
  return [process.execPath, '--import', 'tsx', join(ROOT, 'cells', 'cmd', `${name}.ts`)];
}

/**
 * A bpf root for one test: a fresh directory on bpffs as root (so pins are real and go away
 * with the test), a temporary directory otherwise (the agent then runs on in-memory maps).
 */
export function testBpfRoot(): string {
  const root =
    process.getuid?.() === 0
      ? join('/sys/fs/bpf', `cellium-e2e-${process.pid}-${randomBytes(3).toString('hex')}`)
      : join(tempDir(), 'bpf');
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/**
 * The bundle a built launcher (`dist/cellium-agent.cjs`, `dist/cellium-cni.cjs`) runs: named by
 * its content hash, which the launcher carries (scripts/launcher.ts).
 */
export function launchedBundle(program: 'cellium-agent' | 'cellium-cni'): string {
  const launcher = readFileSync(join(ROOT, 'dist', `${program}.cjs`), 'utf8');
  const bundle = new RegExp(`${program}\\.bundle\\.[\\w-]+\\.cjs`).exec(launcher)?.[0];
  if (!bundle) throw new Error(`dist/${program}.cjs names no bundle (npm run build)`);
  return bundle;
}

/**
 * A copy of a built program (launcher and bundle) in a directory of its own under the
 * repository (node_modules resolves from there), removed when the test finishes: its code
 * cache never touches dist/.
 */
export function copyLaunched(program: 'cellium-agent' | 'cellium-cni'): {
  dir: string;
  bundle: string;
} {
  const dir = mkdtempSync(join(ROOT, '.test-dist-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = launchedBundle(program);
  for (const f of [`${program}.cjs`, bundle]) copyFileSync(join(ROOT, 'dist', f), join(dir, f));
  return { dir, bundle };
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'cellium-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The result of a finished command. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion. */
export function run(cmd: string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [bin, ...args] = cmd;
    const p = spawn(bin ?? '', args, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

/** A running agent; it is killed when the test finishes, whatever happens. */
export interface AgentProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly socket: string;
  /** Everything it logged so far (JSON lines on stderr). */
  logs(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Sends a signal and resolves once the agent has exited. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Where and how to run an agent. */
export interface AgentOptions {
  readonly args?: readonly string[];
  /** The bpf root (a fresh one by default). */
  readonly bpfRoot?: string;
  /** Socket and state live here; pass the same dir to restart the same agent. */
  readonly dir?: string;
  /** A network namespace (name under /run/netns) to run the agent in, as a node. */
  readonly netns?: string;
  /**
   * What runs the agent, e.g. the quick start `scripts/agent.sh` (the agent from its sources by
   * default). It runs in its own process group, all of it killed when the test finishes.
   */
  readonly command?: readonly string[];
  /**
   * Run cellium-health (probes, its API, the health endpoint). Off by default: a health
   * endpoint in every test agent would change endpoint and IPAM counts, and agents sharing the
   * host's namespace would share the health port.
   */
  readonly health?: boolean;
  /**
   * The kubelet's health port (`--agent-health-port`); none by default, since agents of several
   * tests run at once on this machine and Cilium's 9879 would be taken by the first.
   */
  readonly healthPort?: number;
}

/** Starts `cellium-agent` (socket and state in `dir`) and waits until it has started. */
export async function startAgent(opts: AgentOptions = {}): Promise<AgentProcess> {
  const dir = opts.dir ?? tempDir();
  const socket = join(dir, 'cellium.sock');
  const agentArgs = [
    ...(opts.command ?? program('cellium-agent')),
    `--socket-path=${socket}`,
    `--state-dir=${join(dir, 'state')}`,
    `--bpf-root=${opts.bpfRoot ?? testBpfRoot()}`,
    ...(opts.health === true
      ? []
      : ['--enable-health-checking=false', '--enable-endpoint-health-checking=false']),
    `--agent-health-port=${opts.healthPort ?? 0}`,
    ...(opts.args ?? []),
  ];
  const [bin = '', ...args] =
    opts.netns === undefined
      ? agentArgs
      : ['nsenter', `--net=/run/netns/${opts.netns}`, ...agentArgs];
  const group = opts.command !== undefined;
  const proc = spawn(bin, args, { cwd: ROOT, env: process.env, detached: group });
  let logs = '';
  proc.stderr.on('data', (d: Buffer) => (logs += d.toString()));
  // A script's build steps print on stdout; drained so a full pipe never blocks it.
  if (group) proc.stdout.resume();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  onTestFinished(() => {
    if (group && proc.pid !== undefined) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    } else if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const deadline = Date.now() + 30_000;
  while (!logs.includes('"hive started"')) {
    if (proc.exitCode !== null) throw new Error(`agent exited early (${proc.exitCode}):\n${logs}`);
    if (Date.now() > deadline) throw new Error(`agent did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const kill = (signal: NodeJS.Signals): Promise<number | null> => {
    proc.kill(signal);
    return exited;
  };
  return { proc, socket, logs: () => logs, exited, kill };
}

/** Waits until the agent at `socket` has started and restored its state (per its /healthz). */
export async function restored(socket: string): Promise<void> {
  const api = new ApiClient(socket);
  try {
    for (;;) {
      const s = await api.request<{ cilium: { msg?: string } }>('GET', '/healthz');
      const msg = s.cilium.msg ?? '';
      if (!msg.startsWith('starting') && !msg.startsWith('not ready')) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    api.close();
  }
}
