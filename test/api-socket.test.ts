// The API socket of a real agent, as another local user sees it: started under umask 000, the
// socket is never connectable by that user, not even for a moment; a failed start leaves no
// socket. Root only (the other user is nobody; core/testing/kernel.ts).
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../core/testing/kernel.js';
import { program, ROOT, run, tempDir } from './support/procs.js';

const NOBODY = 65534;

function ownTempDir(): string {
  const dir = tempDir('cellium-api-socket-');
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Outcomes of the connection attempts the other user made. */
interface Attempts {
  readonly connected: number;
  readonly EACCES: number;
  readonly ENOENT: number;
  readonly other: number;
}

// Connects to argv[1] back to back (libuv issues each connect() synchronously) until stdin
// closes, then prints the outcomes.
const CONNECTOR = `
const net = require('net');
const path = process.argv[1];
const n = { connected: 0, EACCES: 0, ENOENT: 0, other: 0 };
let stop = false;
let inflight = 0;
process.stdin.on('end', () => (stop = true)).resume();
function burst() {
  if (stop && inflight === 0) return process.stdout.write(JSON.stringify(n) + '\\n');
  for (let i = 0; !stop && i < 32; i++) {
    inflight++;
    const s = net.connect(path);
    s.on('connect', () => { n.connected++; s.destroy(); });
    s.on('error', (e) => { n[e.code in n ? e.code : 'other']++; });
    s.on('close', () => inflight--);
  }
  setImmediate(burst);
}
process.stdout.write(JSON.stringify({ ready: process.getuid(), groups: process.getgroups() }) + '\\n');
burst();
`;

/** Starts the connector as nobody (no supplementary groups) and waits until it is trying. */
async function startConnector(path: string): Promise<() => Promise<Attempts>> {
  const p = spawn(process.execPath, ['-e', CONNECTOR, path], {
    uid: NOBODY,
    gid: NOBODY,
    cwd: '/',
  });
  onTestFinished(() => {
    if (p.exitCode === null) p.kill('SIGKILL');
  });
  const lines: string[] = [];
  let out = '';
  let stderr = '';
  let wake = (): void => undefined;
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    lines.push(...parts);
    wake();
  });
  p.on('exit', () => wake());
  const line = async (i: number): Promise<string> => {
    while (lines[i] === undefined) {
      if (p.exitCode !== null) throw new Error(`connector exited (${p.exitCode}): ${stderr}`);
      await new Promise<void>((r) => (wake = r));
    }
    return lines[i];
  };
  // Who it really runs as: nobody, without root's groups (the socket's group is root's).
  expect(JSON.parse(await line(0))).toEqual({ ready: NOBODY, groups: [NOBODY] });
  return async () => {
    p.stdin.end();
    return JSON.parse(await line(1)) as Attempts;
  };
}

/** What one agent start under umask 000 looked like from outside. */
interface Start {
  readonly attempts: Attempts;
  readonly mode: number;
  readonly trace: string;
  readonly leftover: readonly string[];
}

/**
 * Starts the agent under umask 000 while nobody tries to connect, then stops it with SIGTERM.
 * strace delays each chmod the agent makes by 200 ms: any window in which the socket exists
 * before its permissions are set grows from microseconds (too short to hit reliably from
 * another process) to 200 ms, so an agent that chmods after exposing the socket is always
 * caught, while one that never exposes it passes regardless.
 */
async function startUnderUmask0(): Promise<Start> {
  const dir = ownTempDir();
  // mkdtemp makes 0700 directories; nobody must reach the socket's directory, or the test
  // would prove nothing.
  chmodSync(dir, 0o777);
  const socket = join(dir, 'cellium.sock');
  const trace = join(dir, 'strace.out');
  const finish = await startConnector(socket);
  const agent = spawn(
    'sh',
    [
      '-c',
      'umask 000; exec "$@"',
      'sh',
      ...['strace', '-f', '--seccomp-bpf', '-qq', '-o', trace],
      ...['-e', 'trace=chmod,fchmodat,fchmod'],
      ...['-e', 'inject=chmod,fchmodat,fchmod:delay_enter=200000'],
      ...program('cellium-agent'),
      '--bpf-backend=memory',
      `--socket-path=${socket}`,
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${join(dir, 'bpf')}`,
      '--agent-health-port=0',
    ],
    { cwd: ROOT, env: process.env },
  );
  let logs = '';
  let agentPid: number | undefined;
  agent.stderr.on('data', (d: Buffer) => {
    logs += d.toString();
    agentPid ??= Number(/"pid":(\d+)/.exec(logs)?.[1] ?? '') || undefined;
  });
  const exited = new Promise<number | null>((r) => agent.on('exit', (code) => r(code)));
  onTestFinished(() => {
    // strace's child is the agent: kill it first, then strace.
    if (agentPid !== undefined && agent.exitCode === null) process.kill(agentPid, 'SIGKILL');
    if (agent.exitCode === null) agent.kill('SIGKILL');
  });
  while (!logs.includes('"hive started"')) {
    if (agent.exitCode !== null)
      throw new Error(`agent exited early (${agent.exitCode}):\n${logs}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const attempts = await finish();
  const mode = statSync(socket).mode & 0o777;
  if (agentPid === undefined) throw new Error(`the agent did not log its pid:\n${logs}`);
  process.kill(agentPid, 'SIGTERM');
  expect(await exited).toBe(0);
  return {
    attempts,
    mode,
    trace: readFileSync(trace, 'utf8'),
    leftover: readdirSync(dir).filter((n) => n.includes('cellium.sock')),
  };
}

kernelSuite('API socket of a real agent', { commands: ['strace'] }, () => {
  it('started under umask 000, never accepts a connection from another user', async () => {
    // Twice: the second start also clears what the first left, if anything.
    for (let round = 0; round < 2; round++) {
      const s = await startUnderUmask0();
      // Not vacuous: the chmod calls were really slowed down, and nobody saw the socket.
      expect(s.trace).toMatch(/chmod.*\(DELAYED\)/);
      expect(s.attempts.EACCES).toBeGreaterThan(0);
      expect({ round, connected: s.attempts.connected, mode: s.mode }).toEqual({
        round,
        connected: 0,
        mode: 0o660,
      });
      expect(s.leftover).toEqual([]);
    }
  });

  it('exits 1 naming the group when --api-socket-group names no group, leaving no socket', async () => {
    const dir = ownTempDir();
    const r = await run([
      ...program('cellium-agent'),
      '--bpf-backend=memory',
      `--socket-path=${join(dir, 'cellium.sock')}`,
      `--state-dir=${join(dir, 'state')}`,
      `--bpf-root=${join(dir, 'bpf')}`,
      '--agent-health-port=0',
      '--api-socket-group=no-such-group-xyz',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "cellium-agent: start hook 'api-server' of module agent.infra.api failed: group 'no-such-group-xyz' (--api-socket-group) does not exist",
    );
    expect(readdirSync(dir).filter((n) => n.includes('cellium.sock'))).toEqual([]);
  });
});
