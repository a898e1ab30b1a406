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

/** A link's index and MAC. */
export interface LinkInfo {
  readonly ifindex: number;
  readonly mac: string;
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
