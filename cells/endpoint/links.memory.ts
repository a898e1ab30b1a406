import type { HostLink, LinkLookup } from './validate.js';

/** A veth of the fake host: no routable address, as a pod's host-side interface. */
export function fakeVeth(index: number): HostLink {
  return {
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
export class MemoryLinks {
  readonly links = new Map<string, HostLink>([
    [
      'lo',
      { index: 1, kind: '', loopback: true, addresses: [{ address: '127.0.0.1', scope: 'host' }] },
    ],
    [
      'eth0',
      {
        index: 2,
        kind: '',
        loopback: false,
        addresses: [{ address: '192.0.2.10', scope: 'global' }],
      },
    ],
  ]);

  /** The lookup the endpoint cell uses. */
  readonly lookup: LinkLookup = (name) => this.links.get(name);

  /** Adds a pod veth named `name`; returns its index. */
  addVeth(name: string): number {
    const index = 100 + this.links.size;
    this.links.set(name, fakeVeth(index));
    return index;
  }
}
