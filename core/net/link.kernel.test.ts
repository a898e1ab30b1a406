// inspectLink against the kernel, from a child process inside a test network namespace: a veth
// pair, a dummy device with addresses of several scopes, lo, and a name that does not exist.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { expect, it, onTestFinished } from 'vitest';
import { moduleUrl, runTs } from '../testing/child.js';
import { kernelSuite } from '../testing/kernel.js';
import type { LinkInfo } from './link.js';

/**
 * A fresh netns with the devices the assertions expect; removed when the test finishes. The
 * addressed device d0 is a dummy, or a bridge on kernels built without dummy (as this one).
 */
function testNetns(): { ns: string; kind: string } {
  const ns = `cellium-nl-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  onTestFinished(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args]);
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB');
  const kind =
    spawnSync('ip', ['-n', ns, 'link', 'add', 'd0', 'type', 'dummy']).status === 0
      ? 'dummy'
      : 'bridge';
  if (kind === 'bridge') ip('link', 'add', 'd0', 'type', 'bridge');
  ip('link', 'set', 'd0', 'address', '02:00:00:00:00:d0', 'mtu', '1400');
  ip('link', 'set', 'd0', 'addrgenmode', 'none'); // no link-local of the kernel's own making
  ip('addr', 'add', '10.77.0.1/24', 'dev', 'd0');
  ip('addr', 'add', '10.78.0.1/32', 'dev', 'd0', 'scope', 'host');
  ip('addr', 'add', 'fd77::1/64', 'dev', 'd0', 'nodad');
  ip('addr', 'add', 'fe80::d0/64', 'dev', 'd0', 'nodad');
  ip('addr', 'add', 'fec0::5/64', 'dev', 'd0', 'scope', 'site', 'nodad');
  ip('link', 'set', 'd0', 'up');
  return { ns, kind };
}

/** Runs inspectLink (and linkByIndex) in a child; `enter` puts it into the namespace. */
function inspectIn(
  enter: readonly string[],
  names: readonly string[],
): { byName: Record<string, LinkInfo | null>; byIndex: Record<string, string | null> } {
  const r = runTs(
    `import { inspectLink, linkByIndex } from ${JSON.stringify(moduleUrl('net/index.ts'))};\n` +
      `const byName: Record<string, unknown> = {};\n` +
      `const byIndex: Record<string, unknown> = {};\n` +
      `for (const n of process.argv.slice(2)) {\n` +
      `  const l = inspectLink(n);\n` +
      `  byName[n] = l ?? null;\n` +
      `  if (l) byIndex[l.index] = linkByIndex(l.index)?.name ?? null;\n` +
      `}\n` +
      `console.log(JSON.stringify({ byName, byIndex }));\n`,
    names,
    enter,
  );
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
    status: 0,
    signal: null,
    stderr: '',
  });
  return JSON.parse(r.stdout) as ReturnType<typeof inspectIn>;
}

kernelSuite('inspectLink over rtnetlink', { commands: ['ip', 'nsenter'] }, () => {
  it('reports kinds, indexes, flags and addresses of the namespace the caller is in', () => {
    const { ns, kind } = testNetns();
    const links = JSON.parse(
      execFileSync('ip', ['-n', ns, '-j', 'link', 'show'], { encoding: 'utf8' }),
    ) as {
      ifindex: number;
      ifname: string;
    }[];
    const indexOf = (name: string) => links.find((l) => l.ifname === name)?.ifindex;
    const r = inspectIn(['ip', 'netns', 'exec', ns], ['vA', 'vB', 'd0', 'lo', 'missing0']);

    expect(r.byName.vA).toMatchObject({ name: 'vA', kind: 'veth', loopback: false, up: false });
    expect(r.byName.vA?.index).toBe(indexOf('vA'));
    expect(r.byName.vB?.index).toBe(indexOf('vB'));
    expect(r.byName.vB?.kind).toBe('veth');
    expect(r.byName.missing0).toBeNull();

    const d0 = r.byName.d0;
    expect(d0).toMatchObject({
      name: 'd0',
      kind,
      index: indexOf('d0'),
      up: true,
      loopback: false,
      mac: '02:00:00:00:00:d0',
      mtu: 1400,
    });
    expect(d0?.flags ?? 0).toSatisfy((f: number) => (f & 1) === 1);
    const byAddress = (a: { address: string }, b: { address: string }) =>
      a.address.localeCompare(b.address);
    expect([...(d0?.addresses ?? [])].sort(byAddress)).toEqual(
      [
        { family: 'ipv4', address: '10.77.0.1', prefixLen: 24, scope: 'global' },
        { family: 'ipv4', address: '10.78.0.1', prefixLen: 32, scope: 'host' },
        { family: 'ipv6', address: 'fd77::1', prefixLen: 64, scope: 'global' },
        { family: 'ipv6', address: 'fe80::d0', prefixLen: 64, scope: 'link' },
        { family: 'ipv6', address: 'fec0::5', prefixLen: 64, scope: 'site' },
      ].sort(byAddress),
    );

    expect(r.byName.lo).toMatchObject({ name: 'lo', kind: '', loopback: true, up: true, index: 1 });
    expect(r.byName.lo?.addresses).toEqual([
      { family: 'ipv4', address: '127.0.0.1', prefixLen: 8, scope: 'host' },
      { family: 'ipv6', address: '::1', prefixLen: 128, scope: 'host' },
    ]);
    for (const l of Object.values(r.byName)) if (l) expect(r.byIndex[l.index]).toBe(l.name);
  });

  it('answers for the namespace entered with nsenter --net, where /sys still shows another', () => {
    const { ns, kind } = testNetns();
    const r = inspectIn(['nsenter', `--net=/run/netns/${ns}`], ['d0', 'vA']);
    expect(existsSync('/sys/class/net/d0')).toBe(false); // sysfs would not find it
    expect(r.byName.d0?.kind).toBe(kind);
    expect(r.byName.vA?.kind).toBe('veth');
  });
});
