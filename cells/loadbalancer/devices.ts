// The node's devices facing outside (--devices) and the addresses NodePort frontends on 0.0.0.0
// and :: are expanded to: the devices' global addresses, or without --devices every global
// address of an up device that is not the agent's or a pod's.
import { token } from '../../core/hive/index.js';
import type { LinkInfo } from '../../core/net/index.js';
import { canonicalIp } from './spec.js';

/** A device of --devices, as found at start. */
export interface LbDevice {
  readonly name: string;
  readonly index: number;
  readonly addresses: readonly string[];
}

/** The node's links as rtnetlink lists them (tests give their own). */
export const LbLinks = token<() => readonly LinkInfo[]>('loadbalancer/LbLinks');

function agentDevice(l: LinkInfo): boolean {
  return l.name.startsWith('cellium_') || l.name.startsWith('lxc');
}

function globalAddresses(l: LinkInfo): string[] {
  return l.addresses
    .filter((a) => a.scope === 'global')
    .map((a) => canonicalIp(a.address))
    .filter((a): a is string => a !== undefined);
}

/** The devices named by --devices; one that does not exist is an error naming it. */
export function findDevices(names: readonly string[], links: readonly LinkInfo[]): LbDevice[] {
  return names.map((name) => {
    const l = links.find((x) => x.name === name);
    if (!l) throw new Error(`--devices ${name}: no such network device`);
    return { name: l.name, index: l.index, addresses: globalAddresses(l) };
  });
}

/** The NodePort addresses: the devices', or every node address when no device is named. */
export function nodeAddresses(devices: readonly LbDevice[], links: readonly LinkInfo[]): string[] {
  if (devices.length > 0) return [...new Set(devices.flatMap((d) => d.addresses))].sort();
  const all = links.filter((l) => l.up && !l.loopback && !agentDevice(l)).flatMap(globalAddresses);
  return [...new Set(all)].sort();
}
