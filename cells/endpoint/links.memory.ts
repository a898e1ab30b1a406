import type { HostLink, HostLinks } from './validate.js';

/** A veth of the fake host: no routable address, as a pod's host-side interface. */
export function fakeVeth(name: string, index: number): HostLink {
  return {
    name,
    index,
    kind: 'veth',
    loopback: false,
    addresses: [{ address: 'fe80::1', scope: 'link' }],
  };
}

/**
 * Host devices for tests without privileges: a table of links by name that tests change
 * (add a pod's veth, make it vanish). Starts with `lo` and a node uplink `eth0`.
 */
export class MemoryLinks implements HostLinks {
  readonly links = new Map<string, HostLink>([
    [
      'lo',
      {
        name: 'lo',
        index: 1,
        kind: '',
        loopback: true,
        addresses: [{ address: '127.0.0.1', scope: 'host' }],
      },
    ],
    [
      'eth0',
      {
        name: 'eth0',
        index: 2,
        kind: '',
        loopback: false,
        addresses: [{ address: '192.0.2.10', scope: 'global' }],
      },
    ],
  ]);

  get(name: string): HostLink | undefined {
    return this.links.get(name);
  }

  all(): ReadonlyMap<string, HostLink> {
    return new Map(this.links);
  }

  /** Adds a pod veth named `name`; returns its index. */
  addVeth(name: string): number {
    const index = 100 + this.links.size;
    this.links.set(name, fakeVeth(name, index));
    return index;
  }
}
