// A Node script run in a network namespace that talks in lines: what the datapath tests use for
// servers and clients inside pods (each answers requests on stdin with one JSON line).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { onTestFinished } from 'vitest';

/** A running script: the process, and its next line of output. */
export interface NsScript {
  readonly p: ChildProcessWithoutNullStreams;
  nextLine(): Promise<string>;
}

/** Starts a Node script in a namespace; killed when the test finishes. */
export function startIn(ns: string, script: string, args: readonly string[]): NsScript {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (p.exitCode === null) p.kill('SIGKILL');
  });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiting: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  let buf = '';
  let exited: Error | undefined;
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
      const line = buf.slice(0, i);
      const w = waiting.shift();
      if (w) w.resolve(line);
      else lines.push(line);
    }
  });
  p.once('exit', (code) => {
    exited = new Error(`${script} exited (${code}): ${stderr}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) resolve(l);
      else if (exited) reject(exited);
      else waiting.push({ resolve, reject });
    });
  return { p, nextLine };
}

/**
 * Runs inline Node code (`node -e`) in a namespace as a server: resolves once it printed
 * `ready`, rejects naming `what` if it exits first; killed (and waited for) when the test finishes.
 */
export async function startReady(
  ns: string,
  code: string,
  args: readonly string[],
  what: string,
): Promise<void> {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => p.once('exit', r));
  onTestFinished(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await exited;
    }
  });
  let out = '';
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    p.once('exit', (c) => reject(new Error(`${what} exited (${c}): ${err}`)));
  });
}
