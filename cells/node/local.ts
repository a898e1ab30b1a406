import type { LinkInfo } from '../../core/net/index.js';
import { canonicalIp } from './ids.js';

/** Devices whose addresses are never the node's: the agent's own and endpoints' host veths. */
function agentDevice(l: LinkInfo): boolean {
  return l.name.startsWith('cellium_') || l.name.startsWith('lxc');
}

/**
 * The local node's IPs: the flags' addresses, or with 'auto' the first global address of each
 * family on an up, non-loopback device (lowest ifindex first), as Cilium picks a node IP when
 * no Kubernetes node object names one.
 */
export function localNodeIps(
  flags: { readonly ipv4Node: string; readonly ipv6Node: string },
  links: () => readonly LinkInfo[],
): string[] {
  let devices: readonly LinkInfo[] | undefined;
  const pick = (value: string, family: 'ipv4' | 'ipv6'): string | undefined => {
    if (value === '') return undefined;
    if (value !== 'auto') return canonicalIp(value);
    devices ??= [...links()].sort((a, b) => a.index - b.index);
    for (const l of devices) {
      if (!l.up || l.loopback || agentDevice(l)) continue;
      const a = l.addresses.find((x) => x.family === family && x.scope === 'global');
      if (a) return canonicalIp(a.address);
    }
    return undefined;
  };
  return [pick(flags.ipv4Node, 'ipv4'), pick(flags.ipv6Node, 'ipv6')].filter(
    (ip): ip is string => ip !== undefined,
  );
}
