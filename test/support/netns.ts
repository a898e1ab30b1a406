import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { onTestFinished } from 'vitest';

/** Runs a command and returns its stdout; throws with its stderr on failure. */
export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A short unique suffix for netns and link names (link names have 15 characters at most). */
export function uniq(): string {
  return randomBytes(3).toString('hex');
}

/** Creates a network namespace that is deleted (with its links) when the test finishes. */
export function netns(name: string): string {
  sh('ip', ['netns', 'add', name]);
  onTestFinished(() => {
    try {
      sh('ip', ['netns', 'del', name]);
    } catch {
      // already gone
    }
  });
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Runs a command inside a namespace. */
export function inNs(ns: string, cmd: string, args: readonly string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

/**
 * A "node" namespace and a "pod" namespace joined by a veth pair, as the CNI plugin makes
 * them: `hostIf` in the node, `eth0` in the pod, both addressed in 10.244.<n>.0/24.
 */
export function nodeAndPod(): {
  node: string;
  pod: string;
  hostIf: string;
  nodeIp: string;
  podIp: string;
} {
  const id = uniq();
  const node = netns(`cnode-${id}`);
  const pod = netns(`cpod-${id}`);
  const hostIf = `lxc${id}`;
  const n = (parseInt(id.slice(0, 2), 16) % 200) + 20;
  const nodeIp = `10.244.${n}.1`;
  const podIp = `10.244.${n}.2`;
  sh('ip', [
    '-n',
    node,
    'link',
    'add',
    hostIf,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    pod,
  ]);
  sh('ip', ['-n', node, 'addr', 'add', `${nodeIp}/24`, 'dev', hostIf]);
  sh('ip', ['-n', pod, 'addr', 'add', `${podIp}/24`, 'dev', 'eth0']);
  sh('ip', ['-n', node, 'link', 'set', hostIf, 'up']);
  sh('ip', ['-n', pod, 'link', 'set', 'eth0', 'up']);
  return { node, pod, hostIf, nodeIp, podIp };
}

/** A link's index and MAC in a namespace. */
export function linkIn(ns: string, dev: string): { ifindex: number; address: string } {
  const [l] = JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', dev])) as {
    ifindex: number;
    address: string;
  }[];
  if (!l) throw new Error(`no link ${dev} in ${ns}`);
  return l;
}

/** A veth from `a` (named `aName`) to `b` (named `bName`), both up. */
export function veth(a: string, aName: string, b: string, bName: string): void {
  sh('ip', ['-n', a, 'link', 'add', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b]);
  sh('ip', ['-n', a, 'link', 'set', aName, 'up']);
  sh('ip', ['-n', b, 'link', 'set', bName, 'up']);
}

/** Adds an address to a device (IPv6 without duplicate address detection). */
export function addr(ns: string, dev: string, cidr: string): void {
  sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])]);
}
