// A pod gets networking: cellium-cni run as a container runtime would, for two pods in their
// own network namespaces, with the agent in a "node" namespace; ping and TCP through bpf_lxc;
// kill -9 of the agent while a ping runs; restore; DEL. Root only (core/testing/kernel.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { inNs, netns, uniq } from './support/netns.js';
import { addedIPv4, cniRunner } from './support/pods.js';
import { program, run, startAgent, tempDir, testBpfRoot } from './support/procs.js';

const needs = { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'ping'] };

/** The agent's IPAM allocations, as `cellium -o json status` shows them. */
async function allocations(socket: string): Promise<Record<string, unknown>> {
  const status = await run([
    ...program('cellium'),
    '-H',
    `unix://${socket}`,
    '-o',
    'json',
    'status',
  ]);
  return (JSON.parse(status.stdout) as { ipam: { allocations: Record<string, unknown> } }).ipam
    .allocations;
}

kernelSuite('pods through cellium-cni and bpf_lxc', needs, () => {
  it('two pods talk through bpf_lxc, survive an agent kill -9, and are deleted cleanly', async () => {
    const id = uniq();
    const node = netns(`cnode-${id}`);
    const pods = [netns(`cpa-${id}`), netns(`cpb-${id}`)] as const;
    const net = `10.251.${(parseInt(id.slice(0, 2), 16) % 200) + 20}`;
    // The same dir and bpf root make a restart the same agent.
    const agentOpts = {
      netns: node,
      dir: tempDir(),
      bpfRoot: testBpfRoot(),
      args: [`--ipv4-range=${net}.0/24`],
    };
    let agent = await startAgent(agentOpts);
    const socket = agent.socket;
    const cni = cniRunner({ node, socket, pods, id });
    const cli = (...args: string[]) =>
      run([...program('cellium'), '-H', `unix://${socket}`, ...args]);

    // ADD both pods.
    const results = [await cni('ADD', 0), await cni('ADD', 1)];
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    const ips = results.map(addedIPv4);
    expect(ips).toEqual([`${net}.2`, `${net}.3`]);
    const list = await cli('endpoint', 'list');
    expect(list.stdout.match(/\bready\b/g)).toHaveLength(2);

    // ping and TCP between the pods.
    expect(inNs(pods[0], 'ping', ['-c', '3', '-i', '0.2', '-W', '2', ips[1]!])).toMatch(
      /3 packets transmitted, 3 received/,
    );
    const server = spawn('ip', [
      'netns',
      'exec',
      pods[1],
      process.execPath,
      '-e',
      "require('net').createServer((s) => s.end('hello from pod1')).listen(8080, () => console.log('up'))",
    ]);
    onTestFinished(() => void server.kill('SIGKILL'));
    await new Promise((r) => server.stdout.once('data', r));
    const reply = inNs(pods[0], process.execPath, [
      '-e',
      `const s = require('net').connect(8080, '${ips[1]!}'); s.on('data', (d) => process.stdout.write(d));`,
    ]);
    expect(reply).toBe('hello from pod1');

    // kill -9 while a ping runs: no loss; the restarted agent restores both endpoints.
    const before = JSON.parse((await cli('-o', 'json', 'endpoint', 'list')).stdout) as {
      id: number;
      status: { identity: { id: number } };
    }[];
    const ping = run([
      'ip',
      'netns',
      'exec',
      pods[0],
      'ping',
      '-c',
      '30',
      '-i',
      '0.1',
      '-W',
      '1',
      ips[1]!,
    ]);
    await new Promise((r) => setTimeout(r, 700));
    await agent.kill('SIGKILL');
    agent = await startAgent(agentOpts);
    const pinged = await ping;
    expect(pinged.stdout).toMatch(/30 packets transmitted, 30 received, 0% packet loss/);
    expect(agent.logs()).toContain('"restored":2');
    const after = JSON.parse((await cli('-o', 'json', 'endpoint', 'list')).stdout) as typeof before;
    expect(after.map((e) => [e.id, e.status.identity.id])).toEqual(
      before.map((e) => [e.id, e.status.identity.id]),
    );

    // DEL releases the IP; DEL again is fine; a new ADD never gets an IP in use.
    expect((await cni('DEL', 0)).code).toBe(0);
    expect((await cni('DEL', 0)).code).toBe(0);
    const ipam = JSON.parse((await cli('-o', 'json', 'status')).stdout) as {
      ipam: { allocations: Record<string, string> };
    };
    expect(ipam.ipam.allocations).toEqual({ [ips[1]!]: 'default/pod1' });
    const again = await cni('ADD', 0);
    expect(again.code, again.stdout).toBe(0);
    const newIp = addedIPv4(again);
    expect(newIp).not.toBe(ips[1]);
    await agent.kill('SIGTERM');
  });

  it('an ADD run before the agent is up waits for it, then allocates once', async () => {
    const id = uniq();
    const node = netns(`cnode-${id}`);
    const pod = netns(`cpw-${id}`);
    const dir = tempDir();
    const socket = join(dir, 'cellium.sock');
    // The plugin asks for the configuration and the IPs at once; both fail until the agent
    // answers, and the IPs are asked again after the configuration came.
    const adding = cniRunner({ node, socket, pods: [pod], id })('ADD', 0);
    await new Promise((r) => setTimeout(r, 300));
    const agent = await startAgent({ netns: node, dir, args: ['--ipv4-range=10.252.1.0/24'] });
    const r = await adding;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(addedIPv4(r)).toBe('10.252.1.2');
    expect(Object.keys(await allocations(socket))).toEqual(['10.252.1.2']);
    await agent.kill('SIGTERM');
  });

  it('undoes an ADD that fails half-way: no veth left, the IP released', async () => {
    const id = uniq();
    const node = netns(`cnode-${id}`);
    const agent = await startAgent({ netns: node, args: ['--ipv4-range=10.252.0.0/24'] });
    const socket = agent.socket;
    const r = await cniRunner({ node, socket, pods: [`no-such-ns-${id}`], id })('ADD', 0);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      code: 999,
      msg: expect.stringMatching(
        /^ADD failed: netns open \/run\/netns\/no-such-ns-\w+: ENOENT$/,
      ) as unknown,
    });
    expect(await allocations(socket)).toEqual({});
    expect(inNs(node, 'ip', ['-o', 'link'])).not.toMatch(/lxc/);
    await agent.kill('SIGTERM');
  });
});
