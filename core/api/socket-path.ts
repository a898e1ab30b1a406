import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Whether this process runs as root. */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Where the agent keeps its runtime files: /var/run/cellium as root, otherwise under
 * $XDG_RUNTIME_DIR, otherwise ~/.local/state.
 */
export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/var/run/cellium';
  const xdg = env.XDG_RUNTIME_DIR;
  return xdg ? join(xdg, 'cellium') : join(homedir(), '.local', 'state', 'cellium');
}

/** The agent's API socket, as both the agent and its clients find it by default. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CELLIUM_SOCKET_PATH ?? env.CELLIUM_SOCK ?? join(defaultRunDir(env), 'cellium.sock');
}

/** The health API's socket by default: `health.sock` beside the agent's (as Cilium's are). */
export function healthSocketBeside(agentSocket: string): string {
  return join(dirname(agentSocket), 'health.sock');
}
