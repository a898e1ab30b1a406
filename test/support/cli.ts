import { runCli } from '../../cells/cmd/cli/program.js';

/** What one `cellium` run printed and its exit code. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `cellium -H unix://<socket> ...args` in this process (as the binary does, without the
 * cost of a new node per command) and captures what it prints.
 */
export async function cellium(socket: string, ...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = (chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  };
  process.stderr.write = (chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  };
  try {
    const code = await runCli(['-H', `unix://${socket}`, ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/** Runs `cellium -o json ...args`, expects success and parses what it printed. */
export async function celliumJson<T = unknown>(socket: string, ...args: string[]): Promise<T> {
  const r = await cellium(socket, '-o', 'json', ...args);
  if (r.code !== 0) throw new Error(`cellium ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
