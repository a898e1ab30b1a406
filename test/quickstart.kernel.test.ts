// The README's quick start really gives pods a datapath: `./scripts/agent.sh` (which as root
// installs the datapath's packages and builds bpf_lxc) runs the agent in a node namespace, the
// built cellium-cni adds two pods that ping each other, DEL removes them, SIGTERM stops cleanly.
// cellium-health runs with its defaults (a health endpoint, from the built responder).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../core/testing/kernel.js';
import { inNs, netns, sh, uniq } from './support/netns.js';
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
    // The node's address, as a machine has one (the health probes come from it).
    sh('ip', ['-n', node, 'link', 'add', `cqd${id}`, 'type', 'veth', 'peer', 'name', `cqe${id}`]);
    sh('ip', [
      '-n',
      node,
      'addr',
      'add',
      `192.168.${net.split('.')[2] ?? '0'}.1/24`,
      'dev',
      `cqd${id}`,
    ]);
    for (const dev of [`cqd${id}`, `cqe${id}`]) sh('ip', ['-n', node, 'link', 'set', dev, 'up']);
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // The health endpoint's namespace has a name of its own (the agent removes it at stop).
    const healthNs = `cqh-${id}`;
    onTestFinished(() => {
      if (existsSync(`/run/netns/${healthNs}`)) inNs(node, 'ip', ['netns', 'del', healthNs]);
    });
    const agent = await startAgent({
      command: [join(ROOT, 'scripts', 'agent.sh')],
      netns: node,
      dir,
      bpfRoot: testBpfRoot(),
      health: true,
      args: [`--ipv4-range=${net}.0/24`, `--health-netns=${healthNs}`],
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

    // The node's health endpoint (identity 4) comes up by itself and is probed at once (not at
    // the next 60 s round), then answers the probes of cellium-health asked for now.
    type Ep = { status?: { identity?: { id?: number }; state?: string } };
    for (let i = 0; ; i++) {
      const eps = JSON.parse((await cli('-o', 'json', 'endpoint', 'list')).stdout) as Ep[];
      if (eps.some((e) => e.status?.identity?.id === 4 && e.status.state === 'ready')) break;
      if (i > 200) throw new Error(`no health endpoint:\n${agent.logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; ; i++) {
      const status = await cli('health', 'status');
      if (/endpoint\s+\S+\.2\s/.test(status.stdout)) {
        // Probed once its responder listens, so reached on the first try.
        expect(status.stdout).toMatch(/endpoint\s+\S+\.2\s+[\d.]+ms\s+[\d.]+ms/);
        break;
      }
      if (i > 200) throw new Error(`the health endpoint was not probed:\n${status.stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const probed = await cli('health', 'status', '--probe');
    expect(probed.code, probed.stdout + probed.stderr).toBe(0);
    expect(probed.stdout).toMatch(/endpoint\s+\S+\.2\s/);
    expect((await cli('status')).stdout).toMatch(/Cluster health:\s+1\/1 reachable/);

    const added = [await cni('ADD', 0), await cni('ADD', 1)];
    for (const r of added) expect(r.code, r.stdout + r.stderr).toBe(0);
    // A successful ADD leaves the plugin's code cache beside its bundle (scripts/launcher.ts).
    const cniBundle = launchedBundle('cellium-cni');
    expect(existsSync(join(ROOT, 'dist', `.${cniBundle}.v8-cache`))).toBe(true);
    const ips = added.map(addedIPv4);
    // .2 is the health endpoint's.
    expect(ips).toEqual([`${net}.3`, `${net}.4`]);
    expect((await cli('endpoint', 'list')).stdout.match(/\bready\b/g)).toHaveLength(3);
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
    const left = JSON.parse((await cli('-o', 'json', 'endpoint', 'list')).stdout) as {
      status?: { identity?: { id?: number } };
    }[];
    expect(left.map((e) => e.status?.identity?.id)).toEqual([4]); // the health endpoint
    // Only the health endpoint's veth is left (lxc_h<hash>: its --health-netns is not the default).
    expect(inNs(node, 'ip', ['-o', 'link'])).not.toMatch(/lxc(?!_h[0-9a-f]{10}@)/);
    expect(await agent.kill('SIGTERM'), agent.logs()).toBe(0);
    expect(existsSync(agent.socket)).toBe(false);
    expect(inNs(node, 'ip', ['-o', 'link'])).not.toMatch(/lxc/);
    expect(existsSync(`/run/netns/${healthNs}`)).toBe(false);
  });
});
