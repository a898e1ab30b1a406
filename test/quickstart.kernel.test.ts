// The README's quick start really gives pods a datapath: `./scripts/agent.sh` (which as root
// installs the datapath's packages and builds bpf_lxc) runs the agent in a node namespace, the
// built cellium-cni adds two pods that ping each other, DEL removes them, SIGTERM stops cleanly.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../core/testing/kernel.js';
import { inNs, netns, uniq } from './support/netns.js';
import { addedIPv4, cniRunner } from './support/pods.js';
import { launchedBundle, ROOT, run, startAgent, tempDir, testBpfRoot } from './support/procs.js';

// The build tools must be there already (scripts/test.sh installs them first): inside the node
// namespace agent.sh has no network to apt-get them, and a test should not install them anyway.
const needs = { commands: ['npm', 'clang', 'make', 'gcc', 'ip', 'nsenter', 'ping'] };
const dist = (file: string): string[] => [process.execPath, join(ROOT, 'dist', file)];

kernelSuite('the README quick start gives pods a datapath', needs, () => {
  it('./scripts/agent.sh, then two pods added by dist/cellium-cni ping each other', async () => {
    const id = uniq();
    const node = netns(`cqn-${id}`);
    const pods = [netns(`cqa-${id}`), netns(`cqb-${id}`)];
    const net = `10.254.${(parseInt(id.slice(0, 2), 16) % 200) + 20}`;
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const agent = await startAgent({
      command: [join(ROOT, 'scripts', 'agent.sh')],
      netns: node,
      dir,
      bpfRoot: testBpfRoot(),
      args: [`--ipv4-range=${net}.0/24`],
    });
    expect(agent.logs()).not.toContain('datapath-c NOT built');
    const cni = cniRunner({
      node,
      socket: agent.socket,
      pods,
      id,
      plugin: dist('cellium-cni.cjs'),
    });
    const cli = (...args: string[]) =>
      run([...dist('cellium.mjs'), '-H', `unix://${agent.socket}`, ...args]);

    const added = [await cni('ADD', 0), await cni('ADD', 1)];
    for (const r of added) expect(r.code, r.stdout + r.stderr).toBe(0);
    // A successful ADD leaves the plugin's code cache beside its bundle (scripts/launcher.ts).
    const cniBundle = launchedBundle('cellium-cni');
    expect(existsSync(join(ROOT, 'dist', `.${cniBundle}.v8-cache`))).toBe(true);
    const ips = added.map(addedIPv4);
    expect(ips).toEqual([`${net}.2`, `${net}.3`]);
    expect((await cli('endpoint', 'list')).stdout.match(/\bready\b/g)).toHaveLength(2);
    for (const [from, to] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const out = inNs(pods[from]!, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ips[to]!]);
      expect(out).toMatch(/3 packets transmitted, 3 received/);
    }

    for (const i of [0, 1]) {
      const del = await cni('DEL', i);
      expect(del.code, del.stdout + del.stderr).toBe(0);
    }
    const left = JSON.parse((await cli('-o', 'json', 'endpoint', 'list')).stdout) as unknown[];
    expect(left).toEqual([]);
    expect(inNs(node, 'ip', ['-o', 'link'])).not.toMatch(/lxc/);
    expect(await agent.kill('SIGTERM'), agent.logs()).toBe(0);
    expect(existsSync(agent.socket)).toBe(false);
  });
});
