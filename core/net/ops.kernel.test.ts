// The rtnetlink changes against the kernel, each checked against what `ip -j` shows. Everything
// happens in fresh test namespaces: a "host" one (entered with withNetns, so this process's own
// namespace is never changed) and a "pod" one; deleting them removes every link made here.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../testing/kernel.js';
import { getLinkOn } from './link.js';
import { NetnsError, readSysctl, withNetns, writeSysctl } from './netns.js';
import {
  addAddress,
  addNeighbour,
  addRoute,
  addVeth,
  addVxlan,
  delAddress,
  delLink,
  delNeighbour,
  delRoute,
  listRoutes,
  renameLink,
  setLinkMtu,
  setLinkUp,
  vxlanInfo,
} from './ops.js';
import { addPodLink, delPodLink, openNetlinkIn, type PodLinkSpec } from './pod-link.js';
import { NetlinkError, withNetlink } from './socket.js';

/** A fresh namespace, deleted (with every link in it) when the test finishes, passed or not. */
function netns(role: string): { name: string; path: string } {
  const name = `cellium-${role}-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  onTestFinished(() => {
    spawnSync('ip', ['netns', 'del', name]);
  });
  return { name, path: `/run/netns/${name}` };
}

function ip(ns: string, ...args: string[]): string {
  return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
}

function ipj<T = Record<string, unknown>>(ns: string, ...args: string[]): T[] {
  const out = ip(ns, '-j', ...args).trim();
  return out === '' ? [] : (JSON.parse(out) as T[]);
}

interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  link_type: string;
  link_index?: number;
  link_netnsid?: number;
  addr_info?: Record<string, unknown>[];
}

/**
 * What `ip` shows of a namespace, without what differs between two equal set-ups (indexes,
 * MACs; a neighbour entry with `hostMac` shows as the host end's).
 */
function state(ns: string, hostMac?: string): unknown {
  const links = ipj<IpLink>(ns, 'addr', 'show').map((l) => ({
    ifname: l.ifname,
    flags: l.flags,
    mtu: l.mtu,
    link_type: l.link_type,
    peer_elsewhere: l.link_netnsid !== undefined,
    addresses: (l.addr_info ?? [])
      .filter((a) => a.scope !== 'link') // the kernel's fe80:: of the random MAC
      .map(({ valid_life_time: _v, preferred_life_time: _p, ...a }) => a),
  }));
  const routes = [...ipj(ns, 'route', 'show'), ...ipj(ns, '-6', 'route', 'show')].filter(
    (r) => !String(r.dst).startsWith('fe80:'),
  );
  // A neighbour's MAC is a random one: shown as the host end's when it is that.
  const neighbours = ipj<{ lladdr?: string }>(ns, 'neigh', 'show').map(({ lladdr, ...n }) => ({
    ...n,
    lladdr: lladdr !== undefined && lladdr === hostMac ? 'the host end' : lladdr,
  }));
  return { links, routes, neighbours };
}

const MTU = 1450;
const IPS = [
  { family: 'ipv4', ip: '10.9.0.5', gateway: '10.9.0.1' },
  { family: 'ipv6', ip: 'fd09::5', gateway: 'fd09::1' },
] as const;

function spec(pod: string): PodLinkSpec {
  const id = randomBytes(4).toString('hex');
  return {
    hostName: `lxc${id}`,
    tmpName: `tmp${id}`,
    podName: 'eth0',
    netns: pod,
    mtu: MTU,
    ips: IPS,
  };
}

/** What cellium-cni used to run for an ADD (two `ip -batch`) plus the neighbours and sysctl, as the reference. */
function addWithIp(hostNs: string, s: PodLinkSpec): void {
  const batch = (ns: string, lines: string[]) =>
    execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  batch(hostNs, [
    `link add ${s.hostName} mtu ${s.mtu} type veth peer name ${s.tmpName} mtu ${s.mtu}`,
    `link set ${s.tmpName} netns ${s.netns}`,
    `link set ${s.hostName} up`,
    ...s.ips.map(
      (a) => `route replace ${a.ip}/${a.family === 'ipv4' ? 32 : 128} dev ${s.hostName}`,
    ),
  ]);
  execFileSync('ip', [
    'netns',
    'exec',
    hostNs,
    'sysctl',
    '-qw',
    `net.ipv4.conf.${s.hostName}.rp_filter=0`,
    `net.ipv4.conf.${s.hostName}.accept_local=1`,
  ]);
  const [host] = ipj<IpLink>(hostNs, 'link', 'show', 'dev', s.hostName);
  batch(s.netns.replace('/run/netns/', ''), [
    `link set ${s.tmpName} name ${s.podName}`,
    `link set ${s.podName} up`,
    ...s.ips.flatMap((a) => {
      const bits = a.family === 'ipv4' ? 32 : 128;
      return [
        `addr add ${a.ip}/${bits} dev ${s.podName}${a.family === 'ipv6' ? ' nodad' : ''}`,
        `route add ${a.gateway}/${bits} dev ${s.podName} scope link`,
        `route add default via ${a.gateway} dev ${s.podName}`,
        `neigh replace ${a.gateway} lladdr ${host?.address ?? ''} dev ${s.podName} nud permanent`,
      ];
    }),
  ]);
}

/** The namespace a path refers to (its nsfs inode), to tell which one the thread is in. */
const nsId = (path: string): number => statSync(path).ino;

kernelSuite('rtnetlink changes (core/net ops)', { commands: ['ip'] }, () => {
  describe('the CNI ADD sequence (addPodLink)', () => {
    it('creates what the `ip -batch` ADD of cells/cni creates, as `ip` shows it', () => {
      const [host, pod, refHost, refPod] = ['h', 'p', 'rh', 'rp'].map(netns) as [
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
      ];
      const s = spec(pod.path);
      const made = withNetns(host.path, () => addPodLink(s));
      addWithIp(refHost.name, { ...s, netns: refPod.path });

      const refHostMac = ipj<IpLink>(refHost.name, 'link', 'show', 'dev', s.hostName)[0]?.address;
      expect(state(host.name)).toEqual(state(refHost.name));
      expect(state(pod.name, made.host.mac)).toEqual(state(refPod.name, refHostMac));
      // The gateways' MACs are the host end's: the pod asks nobody (ARP, NDP) before sending.
      expect(ipj(pod.name, 'neigh', 'show')).toEqual(
        ['10.9.0.1', 'fd09::1'].map((dst) => ({
          dst,
          dev: 'eth0',
          lladdr: made.host.mac,
          state: ['PERMANENT'],
        })),
      );
      // The host end's own rp_filter is 0, accept_local 1, IPv6 on in the pod, as the reference.
      for (const ns of [host, refHost]) {
        expect(
          withNetns(ns.path, () => readSysctl(['net', 'ipv4', 'conf', s.hostName, 'rp_filter'])),
        ).toBe('0');
        expect(
          withNetns(ns.path, () => readSysctl(['net', 'ipv4', 'conf', s.hostName, 'accept_local'])),
        ).toBe('1');
      }
      expect(withNetns(pod.path, () => readSysctl('net.ipv6.conf.eth0.disable_ipv6'))).toBe('0');

      // What addPodLink reports is what `ip` shows: names, indexes, MACs, MTUs, the pairing.
      const [h] = ipj<IpLink>(host.name, 'link', 'show', 'dev', s.hostName);
      const [p] = ipj<IpLink>(pod.name, 'link', 'show', 'dev', 'eth0');
      expect(made.host).toMatchObject({ name: s.hostName, kind: 'veth', up: true, mtu: MTU });
      expect(made.pod).toMatchObject({ name: 'eth0', kind: 'veth', up: true, mtu: MTU });
      expect([made.host.index, made.host.mac]).toEqual([h?.ifindex, h?.address]);
      expect([made.pod.index, made.pod.mac]).toEqual([p?.ifindex, p?.address]);
      expect(h?.link_index).toBe(p?.ifindex);
      expect(p?.link_index).toBe(h?.ifindex);
      // The temporary name never appears: the peer was created in the pod's namespace.
      expect(ipj<IpLink>(pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo', 'eth0']);
      expect(ipj<IpLink>(host.name, 'link', 'show').map((l) => l.ifname)).toEqual([
        'lo',
        s.hostName,
      ]);
      // And the pieces, spelled out once.
      expect(ipj(pod.name, 'route', 'show')).toEqual([
        { dst: 'default', gateway: '10.9.0.1', dev: 'eth0', flags: [] },
        { dst: '10.9.0.1', dev: 'eth0', scope: 'link', flags: [] },
      ]);
      expect(ipj(host.name, 'route', 'show')).toEqual([
        { dst: '10.9.0.5', dev: s.hostName, scope: 'link', flags: [] },
      ]);
      expect(ipj(pod.name, '-6', 'route', 'show', 'default')).toMatchObject([
        { dst: 'default', gateway: 'fd09::1', dev: 'eth0' },
      ]);
    });

    it('DEL removes the pair, its addresses and routes on both sides', () => {
      const [host, pod] = ['h', 'p'].map(netns) as [
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
      ];
      const s = spec(pod.path);
      const before = [state(host.name), state(pod.name)];
      withNetns(host.path, () => addPodLink(s));
      expect(withNetns(host.path, () => delPodLink(s.hostName))).toBe(true);
      expect([state(host.name), state(pod.name)]).toEqual(before);
      expect(withNetns(host.path, () => delPodLink(s.hostName))).toBe(false); // idempotent
    });

    it('undoes everything when the pod name is taken (the rename fails half-way)', () => {
      const [host, pod] = ['h', 'p'].map(netns) as [
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
      ];
      ip(pod.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0');
      const before = [state(host.name), state(pod.name)];
      const [eth0Before] = ipj<IpLink>(pod.name, 'link', 'show', 'dev', 'eth0');
      const s = spec(pod.path);
      expect(() => withNetns(host.path, () => addPodLink(s))).toThrow(
        new RegExp(`RTM_NEWLINK ${s.tmpName} rename to eth0: EEXIST`),
      );
      expect([state(host.name), state(pod.name)]).toEqual(before);
      const [eth0After] = ipj<IpLink>(pod.name, 'link', 'show', 'dev', 'eth0');
      expect(eth0After?.ifindex).toBe(eth0Before?.ifindex); // what was there is untouched
    });

    it('undoes everything when a late step fails (a default route that already exists)', () => {
      const [host, pod] = ['h', 'p'].map(netns) as [
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
      ];
      ip(pod.name, 'link', 'set', 'lo', 'up');
      ip(pod.name, '-6', 'route', 'add', 'default', 'dev', 'lo');
      const before = [state(host.name), state(pod.name)];
      const s = spec(pod.path);
      let error: unknown;
      try {
        withNetns(host.path, () => addPodLink(s));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(NetlinkError);
      expect((error as NetlinkError).code).toBe('EEXIST');
      expect((error as Error).message).toContain('RTM_NEWROUTE default via fd09::1 dev eth0');
      expect([state(host.name), state(pod.name)]).toEqual(before);
    });

    it('creates nothing when the host name is taken, and leaves that link alone', () => {
      const [host, pod] = ['h', 'p'].map(netns) as [
        ReturnType<typeof netns>,
        ReturnType<typeof netns>,
      ];
      const s = spec(pod.path);
      ip(host.name, 'link', 'add', s.hostName, 'type', 'veth', 'peer', 'name', 'other0');
      const before = [state(host.name), state(pod.name)];
      expect(() => withNetns(host.path, () => addPodLink(s))).toThrow(
        new RegExp(`RTM_NEWLINK veth ${s.hostName} peer ${s.tmpName} in ${pod.path}: EEXIST`),
      );
      expect([state(host.name), state(pod.name)]).toEqual(before);
    });
  });

  describe('one change at a time', () => {
    it('sets a link down and up, its MTU and name; deletes it', () => {
      const ns = netns('o');
      withNetns(ns.path, () =>
        withNetlink((s) => {
          const { link, peer } = addVeth(s, { name: 'va', mtu: 1400, peer: { name: 'vb' } });
          expect(link).toMatchObject({ name: 'va', mtu: 1400, up: false });
          expect(peer).toMatchObject({ name: 'vb', mtu: 1500 });
          const show = () => ipj<IpLink>(ns.name, 'link', 'show', 'dev', 'va')[0];
          expect([show()?.ifindex, show()?.address]).toEqual([link.index, link.mac]);

          setLinkUp(s, 'va');
          expect(show()?.flags).toContain('UP');
          setLinkUp(s, link, false);
          expect(show()?.flags).not.toContain('UP');
          setLinkMtu(s, link.index, 1280);
          expect(show()?.mtu).toBe(1280);
          renameLink(s, link, 'vc');
          expect(ipj<IpLink>(ns.name, 'link', 'show', 'dev', 'vc')[0]?.ifindex).toBe(link.index);
          expect(getLinkOn(s, 'va')).toBeUndefined();
          expect(() => setLinkMtu(s, 'va', 1400)).toThrow(/RTM_GETLINK va: ENODEV/);
          expect(delLink(s, 'vc')).toBe(true);
          expect(ipj<IpLink>(ns.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
          expect(delLink(s, 'vc', { missingOk: true })).toBe(false);
          expect(() => delLink(s, 'vc')).toThrow(/RTM_DELLINK vc: ENODEV/);
        }),
      );
    });

    it('adds and deletes addresses, routes and permanent neighbours', () => {
      const ns = netns('o');
      withNetns(ns.path, () =>
        withNetlink((s) => {
          const { link } = addVeth(s, { name: 'va', peer: { name: 'vb' } });
          setLinkUp(s, link);
          setLinkUp(s, 'vb');
          addAddress(s, link, '10.20.0.2/24');
          addAddress(s, link, 'fd20::2/64', { nodad: true });
          const addrs = () =>
            (ipj<IpLink>(ns.name, 'addr', 'show', 'dev', 'va')[0]?.addr_info ?? [])
              .filter((a) => a.scope === 'global')
              .map((a) => `${String(a.local)}/${String(a.prefixlen)}${a.nodad ? ' nodad' : ''}`);
          expect(addrs()).toEqual(['10.20.0.2/24', 'fd20::2/64 nodad']);
          expect(() => addAddress(s, link, '10.20.0.2/24')).toThrow(
            /RTM_NEWADDR 10\.20\.0\.2\/24 dev va: EEXIST/,
          );

          addRoute(s, { dst: '10.30.0.0/16', gateway: '10.20.0.1', dev: link });
          addRoute(s, { dst: 'fd30::/64', gateway: 'fd20::1', dev: 'va' });
          addRoute(s, { dst: '10.40.0.7', dev: link }); // a bare IP is a /32, scope link
          expect(ipj(ns.name, 'route', 'show', '10.30.0.0/16')).toEqual([
            { dst: '10.30.0.0/16', gateway: '10.20.0.1', dev: 'va', flags: [] },
          ]);
          expect(ipj(ns.name, 'route', 'show', '10.40.0.7')).toEqual([
            { dst: '10.40.0.7', dev: 'va', scope: 'link', flags: [] },
          ]);
          expect(ipj(ns.name, '-6', 'route', 'show', 'fd30::/64')).toMatchObject([
            { dst: 'fd30::/64', gateway: 'fd20::1', dev: 'va' },
          ]);
          expect(() => addRoute(s, { dst: '10.40.0.7/32', dev: link })).toThrow(
            /RTM_NEWROUTE 10\.40\.0\.7\/32 dev va: EEXIST/,
          );
          addRoute(s, { dst: '10.40.0.7/32', dev: 'vb' }, { replace: true });
          expect(ipj(ns.name, 'route', 'show', '10.40.0.7')).toMatchObject([{ dev: 'vb' }]);

          addNeighbour(s, link, '10.20.0.1', '02:00:00:00:00:01');
          addNeighbour(s, link, 'fd20::1', '02:00:00:00:00:01');
          expect(ipj(ns.name, 'neigh', 'show', 'dev', 'va', 'nud', 'permanent')).toEqual([
            { dst: '10.20.0.1', lladdr: '02:00:00:00:00:01', state: ['PERMANENT'] },
            { dst: 'fd20::1', lladdr: '02:00:00:00:00:01', state: ['PERMANENT'] },
          ]);

          delNeighbour(s, link, '10.20.0.1');
          delNeighbour(s, link, 'fd20::1');
          expect(ipj(ns.name, 'neigh', 'show', 'dev', 'va', 'nud', 'permanent')).toEqual([]);
          delRoute(s, { dst: '10.30.0.0/16', gateway: '10.20.0.1', dev: link });
          delRoute(s, { dst: 'fd30::/64', dev: link });
          delRoute(s, { dst: '10.40.0.7/32', dev: 'vb' });
          expect(ipj(ns.name, 'route', 'show', '10.30.0.0/16')).toEqual([]);
          expect(ipj(ns.name, 'route', 'show', '10.40.0.7')).toEqual([]);
          expect(ipj(ns.name, '-6', 'route', 'show', 'fd30::/64')).toEqual([]);
          expect(() => delRoute(s, { dst: '10.30.0.0/16', dev: link })).toThrow(
            /RTM_DELROUTE 10\.30\.0\.0\/16 dev va: ESRCH/,
          );
          delAddress(s, link, '10.20.0.2/24');
          delAddress(s, 'va', 'fd20::2/64');
          expect(addrs()).toEqual([]);
          expect(() => delAddress(s, link, '10.20.0.2/24')).toThrow(
            /RTM_DELADDR 10\.20\.0\.2\/24 dev va: EADDRNOTAVAIL/,
          );
        }),
      );
    });

    it('finds routes by protocol, with their MTU; routes without a device', () => {
      const ns = netns('o');
      withNetns(ns.path, () =>
        withNetlink((s) => {
          const { link } = addVeth(s, { name: 'va', peer: { name: 'vb' } });
          setLinkUp(s, link);
          setLinkUp(s, 'vb');
          addAddress(s, link, '10.20.0.2/24');
          addAddress(s, link, 'fd20::2/64', { nodad: true });
          // No device: the kernel finds it from the gateway, as `ip route add ... via`.
          addRoute(s, { dst: '10.50.0.0/24', gateway: '10.20.0.1', protocol: 199 });
          addRoute(s, { dst: 'fd50::/64', gateway: 'fd20::1', protocol: 199, mtu: 1400 });
          addRoute(s, { dst: '10.60.0.0/24', gateway: '10.20.0.1', dev: link, mtu: 1450 });
          expect(ipj(ns.name, 'route', 'show', '10.60.0.0/24')).toMatchObject([
            { dst: '10.60.0.0/24', gateway: '10.20.0.1', dev: 'va', metrics: [{ mtu: 1450 }] },
          ]);
          expect(listRoutes(s, 'ipv4', { protocol: 199 })).toEqual([
            {
              family: 'ipv4',
              dst: '10.50.0.0/24',
              gateway: '10.20.0.1',
              oif: link.index,
              protocol: 199,
              scope: 0,
            },
          ]);
          expect(listRoutes(s, 'ipv6', { protocol: 199 })).toMatchObject([
            { dst: 'fd50::/64', gateway: 'fd20::1', oif: link.index, mtu: 1400 },
          ]);
          expect(listRoutes(s, 'ipv4').map((r) => r.dst)).toContain('10.60.0.0/24');
          delRoute(s, { dst: '10.50.0.0/24', gateway: '10.20.0.1', protocol: 199 });
          expect(listRoutes(s, 'ipv4', { protocol: 199 })).toEqual([]);
        }),
      );
    });

    it('makes an external VXLAN device and reads it back', () => {
      const ns = netns('o');
      withNetns(ns.path, () =>
        withNetlink((s) => {
          const l = addVxlan(s, { name: 'vx0', port: 8472 });
          expect(vxlanInfo(s, 'vx0')).toEqual({
            index: l.index,
            port: 8472,
            external: true,
            learning: false,
          });
          const [shown] = ipj<{
            linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
          }>(ns.name, '-d', 'link', 'show', 'vx0');
          expect(shown?.linkinfo?.info_kind).toBe('vxlan');
          expect(shown?.linkinfo?.info_data).toMatchObject({
            port: 8472,
            external: true,
            learning: false,
          });
          expect(() => addVxlan(s, { name: 'vx0', port: 8472 })).toThrow(/EEXIST/);
          expect(vxlanInfo(s, 'lo')).toBeUndefined();
          expect(vxlanInfo(s, 'nope0')).toBeUndefined();
        }),
      );
    });

    it('refuses bad input before the kernel sees it', () => {
      const ns = netns('o');
      withNetns(ns.path, () =>
        withNetlink((s) => {
          expect(() => addVeth(s, { name: 'a-name-far-too-long', peer: { name: 'p' } })).toThrow(
            TypeError,
          );
          expect(() => addVeth(s, { name: 'va', mtu: 10, peer: { name: 'vb' } })).toThrow(/MTU/);
          expect(() => addAddress(s, 1, '10.0.0.1/33')).toThrow(/not an IP prefix/);
          expect(() => addRoute(s, { dst: 'default', gateway: '10.0.0.1/24', dev: 1 })).toThrow(
            /not an ipv4 address/,
          );
          expect(() => addNeighbour(s, 1, '10.0.0.1', 'nope')).toThrow(/not a MAC/);
          expect(ipj<IpLink>(ns.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
        }),
      );
    });
  });

  describe('withNetns', () => {
    it('runs the function in the namespace and comes back, also when it throws', () => {
      const ns = netns('n');
      const own = nsId('/proc/thread-self/ns/net');
      expect(withNetns(ns.path, () => nsId('/proc/thread-self/ns/net'))).toBe(nsId(ns.path));
      expect(nsId('/proc/thread-self/ns/net')).toBe(own);
      const boom = new Error('boom');
      expect(() =>
        withNetns(ns.path, () => {
          throw boom;
        }),
      ).toThrow(boom);
      expect(nsId('/proc/thread-self/ns/net')).toBe(own);
      // Nested: each level returns to the one it came from.
      const other = netns('n');
      expect(
        withNetns(ns.path, () => [
          withNetns(other.path, () => nsId('/proc/thread-self/ns/net')),
          nsId('/proc/thread-self/ns/net'),
        ]),
      ).toEqual([nsId(other.path), nsId(ns.path)]);
      expect(nsId('/proc/thread-self/ns/net')).toBe(own);
    });

    it('refuses an async function, and names a path that is not a namespace', async () => {
      const ns = netns('n');
      const own = nsId('/proc/thread-self/ns/net');
      const asyncFn = (() => Promise.resolve(1)) as unknown as () => number;
      expect(() => withNetns(ns.path, asyncFn)).toThrow(/must be synchronous/);
      expect(nsId('/proc/thread-self/ns/net')).toBe(own);
      const missing = `/run/netns/cellium-missing-${randomBytes(4).toString('hex')}`;
      expect(() => withNetns(missing, () => 1)).toThrow(new NetnsError(`open ${missing}`, 2));
      expect(() => withNetns('/proc/self/status', () => 1)).toThrow(
        /netns enter \/proc\/self\/status: EINVAL/,
      );
      expect(nsId('/proc/thread-self/ns/net')).toBe(own);
      await Promise.resolve(); // the event loop turns in our own namespace
      expect(nsId('/proc/thread-self/ns/net')).toBe(own);
    });

    it('a socket opened inside stays in that namespace after the thread leaves', () => {
      const ns = netns('n');
      ip(ns.name, 'link', 'add', 'inside0', 'type', 'veth', 'peer', 'name', 'inside1');
      const s = openNetlinkIn(ns.path);
      onTestFinished(() => s.close());
      expect(getLinkOn(s, 'inside0')?.kind).toBe('veth');
      expect(withNetlink((own) => getLinkOn(own, 'inside0'))).toBeUndefined();
    });

    it('sysctls: /proc/sys/net opened after entering is that namespace’s', () => {
      const ns = netns('n');
      ip(ns.name, 'link', 'add', 'sysa', 'type', 'veth', 'peer', 'name', 'sysb');
      const ownForwarding = readSysctl('net.ipv4.conf.all.forwarding');
      const wanted = ownForwarding === '1' ? '0' : '1';
      withNetns(ns.path, () => {
        writeSysctl(['net', 'ipv4', 'conf', 'sysa', 'rp_filter'], 2);
        writeSysctl('net.ipv4.conf.all.forwarding', wanted);
        writeSysctl('net.ipv6.conf.sysa.disable_ipv6', 1);
        expect(readSysctl('net.ipv4.conf.sysa.rp_filter')).toBe('2');
      });
      const sysctl = (key: string) =>
        execFileSync('ip', ['netns', 'exec', ns.name, 'sysctl', '-n', key], {
          encoding: 'utf8',
        }).trim();
      expect(sysctl('net.ipv4.conf.sysa.rp_filter')).toBe('2');
      expect(sysctl('net.ipv4.conf.all.forwarding')).toBe(wanted);
      expect(sysctl('net.ipv6.conf.sysa.disable_ipv6')).toBe('1');
      // This process's namespace saw none of it: no such device, forwarding unchanged.
      expect(readSysctl('net.ipv4.conf.sysa.rp_filter')).toBeUndefined();
      expect(readSysctl('net.ipv4.conf.all.forwarding')).toBe(ownForwarding);
      expect(() => writeSysctl('net.ipv4.conf.nope0.rp_filter', 1)).toThrow(
        /sysctl write \/proc\/sys\/net\/ipv4\/conf\/nope0\/rp_filter: ENOENT/,
      );
    });
  });
});
