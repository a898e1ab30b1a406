import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';

/** Runs `ip` in the current network namespace, or in `netns` (a path) through nsenter. */
export function ip(args: readonly string[], netns?: string): string {
  const [cmd, argv] =
    netns === undefined ? ['ip', args] : ['nsenter', [`--net=${netns}`, 'ip', ...args]];
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `ip ${args.join(' ')}${netns ? ` (in ${netns})` : ''}: ${(err.stderr ?? err.message).trim()}`,
    );
  }
}

/**
 * Runs several `ip` commands in one process (`ip -batch -`), stopping at the first failure.
 * Far cheaper than one process per command on the CNI ADD path.
 */
export function ipBatch(lines: readonly string[], netns?: string): string {
  const ipArgs = ['-j', '-batch', '-'];
  const [cmd, argv] =
    netns === undefined ? ['ip', ipArgs] : ['nsenter', [`--net=${netns}`, 'ip', ...ipArgs]];
  try {
    return execFileSync(cmd, argv, {
      input: lines.join('\n') + '\n',
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string | Buffer; message: string };
    const why = (err.stderr?.toString() ?? err.message).trim();
    throw new Error(`ip -batch${netns ? ` (in ${netns})` : ''}: ${why}`);
  }
}

/** A link's index and MAC. */
export interface LinkInfo {
  readonly ifindex: number;
  readonly mac: string;
}

/** The link of the last `link show` in a batch's JSON output. */
export function lastLink(output: string): LinkInfo | undefined {
  const line = output
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('['))
    .at(-1);
  const [l] = line ? (JSON.parse(line) as { ifindex: number; address: string }[]) : [];
  return l && { ifindex: l.ifindex, mac: l.address };
}

/** Reads a link's index and MAC; undefined when it does not exist. */
export function linkInfo(name: string, netns?: string): LinkInfo | undefined {
  try {
    const [l] = JSON.parse(ip(['-j', 'link', 'show', 'dev', name], netns)) as {
      ifindex: number;
      address: string;
    }[];
    return l && { ifindex: l.ifindex, mac: l.address };
  } catch {
    return undefined;
  }
}

/** The host-side veth name of a container's interface: `lxc` + 11 hex digits (15 at most). */
export function hostIfName(containerId: string, ifName: string): string {
  return `lxc${createHash('sha256').update(`${containerId}/${ifName}`).digest('hex').slice(0, 11)}`;
}

/** The temporary name of the pod end before it moves into the pod's namespace. */
export function tmpIfName(containerId: string, ifName: string): string {
  return `tmp${hostIfName(containerId, ifName).slice(3)}`;
}
