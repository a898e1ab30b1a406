// cellium-health between two nodes: two network namespaces joined by a veth (the underlay),
// each running its own agent with a health endpoint; each agent is told about the other node
// through --nodes-file. `cellium status` shows 2/2 reachable; with the link down the other node
// is unreachable, and reachable again once it is back up. Stopping the agents leaves nothing.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { inNs, netns, sh, uniq } from './support/netns.js';
import {
  program,
  run,
  startAgent,
  tempDir,
  testBpfRoot,
  type AgentProcess,
} from './support/procs.js';

// The health endpoints get bpf_lxc, as pods do.
const needs = { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'ping'] };

interface ConnectivityStatus {
  latency?: number;
  status?: string;
  lastProbed?: string;
}
interface PathStatus {
  ip?: string;
  icmp?: ConnectivityStatus;
  http?: ConnectivityStatus;
}
interface NodeStatus {
  name?: string;
  host?: { 'primary-address'?: PathStatus };
  'health-endpoint'?: { 'primary-address'?: PathStatus };
}
interface HealthStatus {
  local?: { name?: string };
  nodes?: NodeStatus[];
  timestamp?: string;
}

/** Pids of processes whose command line contains `text`. */
function pidsWith(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

kernelSuite('cellium-health between two nodes', needs, () => {
  it('probes the other node and its health endpoint; sees it go and come back', async () => {
    const id = uniq();
    const n = (parseInt(id.slice(0, 2), 16) % 200) + 20;
    const names = ['a', 'b'] as const;
    const nodes = names.map((x) => netns(`chn${x}-${id}`));
    const healthNs = names.map((x) => `chh${x}-${id}`);
    // The agents remove their health namespaces at stop; a failed test may leave them.
    for (const h of healthNs)
      onTestFinished(() => {
        try {
          sh('ip', ['netns', 'del', h]);
        } catch {
          // gone, as it should be
        }
      });
    const links = names.map((x) => `chv${x}-${id}`);
    const underlay = [`192.168.${n}.1`, `192.168.${n}.2`];
    const podCidr = [`10.243.${n}.0/24`, `10.244.${n}.0/24`];
    sh('ip', [
      '-n',
      nodes[0]!,
      'link',
      'add',
      links[0]!,
      'type',
      'veth',
      'peer',
      'name',
      links[1]!,
      'netns',
      nodes[1]!,
    ]);
    for (const i of [0, 1]) {
      sh('ip', ['-n', nodes[i]!, 'addr', 'add', `${underlay[i]!}/24`, 'dev', links[i]!]);
      sh('ip', ['-n', nodes[i]!, 'link', 'set', links[i]!, 'up']);
      inNs(nodes[i]!, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      // The other node's pod CIDR via its address: the underlay's own route (the agents run in
      // tunnel mode, the default, and take the VXLAN device to the other node's pods).
      sh('ip', ['-n', nodes[i]!, 'route', 'add', podCidr[1 - i]!, 'via', underlay[1 - i]!]);
    }
    const dirs = names.map(() => tempDir());
    for (const d of dirs) onTestFinished(() => rmSync(d, { recursive: true, force: true }));
    const bpfRoots = names.map(() => testBpfRoot());
    const nodesFile = dirs.map((d) => join(d, 'nodes.json'));
    for (const f of nodesFile) writeFileSync(f, '[]\n');
    const agents: AgentProcess[] = [];
    for (const i of [0, 1]) {
      agents.push(
        await startAgent({
          netns: nodes[i]!,
          dir: dirs[i]!,
          bpfRoot: bpfRoots[i]!,
          health: true,
          args: [
            `--node-name=node-${names[i]!}`,
            `--ipv4-node=${underlay[i]!}`,
            `--ipv4-range=${podCidr[i]!}`,
            `--health-netns=${healthNs[i]!}`,
            '--health-probe-interval=1s',
            `--nodes-file=${nodesFile[i]!}`,
          ],
        }),
      );
    }
    const health = agents.map(
      (a) => new ApiClient(join(dirs[agents.indexOf(a)]!, 'health.sock'), '/v1beta'),
    );
    const api = agents.map((a) => new ApiClient(a.socket));
    onTestFinished(() => {
      for (const c of [...health, ...api]) c.close();
    });
    const poll = async <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => {
      const logs = () =>
        agents.map((a) => a.logs().split('\n').slice(-30).join('\n')).join('\n---\n');
      for (let i = 0; ; i++) {
        const v = await fn().catch(() => undefined);
        if (v !== undefined) return v;
        if (i > 250) throw new Error(`timed out waiting for ${what}\n${logs()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    // Each agent's own health endpoint address, as its /v1/cluster/nodes lists it.
    type Cluster = { 'nodes-added'?: { 'health-endpoint-address'?: { ipv4?: { ip?: string } } }[] };
    const healthIps: string[] = [];
    for (const i of [0, 1]) {
      healthIps.push(
        await poll(`node ${i}'s health endpoint`, async () => {
          const c = await api[i]!.request<Cluster>('GET', '/cluster/nodes');
          return c['nodes-added']?.[0]?.['health-endpoint-address']?.ipv4?.ip;
        }),
      );
      expect(healthIps[i]).toMatch(new RegExp(`^10\\.24${3 + i}\\.${n}\\.`));
    }
    // The health endpoint has the reserved health identity.
    const eps = await api[0]!.request<
      {
        status?: {
          identity?: { id?: number };
          'external-identifiers'?: { 'container-id'?: string };
        };
      }[]
    >('GET', '/endpoint');
    expect(eps.map((e) => e.status?.identity?.id)).toEqual([4]);

    for (const i of [0, 1]) {
      const other = 1 - i;
      writeFileSync(
        nodesFile[i]!,
        JSON.stringify([
          {
            name: `default/node-${names[other]!}`,
            ipv4: underlay[other],
            'pod-cidrs': [podCidr[other]],
            'health-ipv4': healthIps[other],
          },
        ]),
      );
    }
    const status = (i: number) => health[i]!.request<HealthStatus>('GET', '/status');
    const reachable = (s: HealthStatus, name: string): boolean | undefined => {
      const node = s.nodes?.find((x) => x.name === name);
      if (!node) return undefined;
      const paths = [node.host?.['primary-address'], node['health-endpoint']?.['primary-address']];
      return paths.every((p) => p?.icmp?.status === '' && p.http?.status === '');
    };
    const cli = (i: number, ...args: string[]) =>
      run([...program('cellium'), '-H', `unix://${agents[i]!.socket}`, ...args]);

    for (const i of [0, 1]) {
      await poll(`node ${i} sees both nodes reachable`, async () => {
        const s = await status(i);
        return s.nodes?.length === 2 && s.nodes.every((x) => reachable(s, x.name ?? '') === true)
          ? s
          : undefined;
      });
      const out = await cli(i, 'status');
      expect(out.stdout, out.stderr).toMatch(/Cluster health:\s+2\/2 reachable/);
      // ICMP and HTTP latencies of both nodes, host and health endpoint.
      const s = await status(i);
      for (const node of s.nodes ?? []) {
        for (const p of [
          node.host?.['primary-address'],
          node['health-endpoint']?.['primary-address'],
        ]) {
          expect(p?.icmp?.latency).toBeGreaterThan(0);
          expect(p?.http?.latency).toBeGreaterThan(0);
        }
      }
      const healthz = await api[i]!.request<{
        controllers?: { name?: string; uuid?: string; status?: { 'success-count'?: number } }[];
        cluster?: { ciliumHealth?: { state?: string } };
      }>('GET', '/healthz');
      expect(healthz.cluster?.ciliumHealth?.state).toBe('Ok');
      // One cilium-health-ep controller: the hive's job, listed with the others (it has a uuid).
      const ep = healthz.controllers?.filter((c) => c.name === 'cilium-health-ep') ?? [];
      expect(ep).toHaveLength(1);
      expect(ep[0]?.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(ep[0]?.status?.['success-count']).toBeGreaterThan(0);
    }

    // While it runs, the health endpoint has its own policy map, as any endpoint.
    for (const r of bpfRoots) {
      const pins = readdirSync(join(r, 'tc', 'globals'));
      expect(pins.filter((p) => /^cellium_policy_\d+$/.test(p))).toHaveLength(1);
    }

    // The underlay goes down: node b is unreachable from a within two probe rounds (the round
    // in progress may have probed before; the next one cannot have). Counted by the rounds'
    // timestamps, not by the wall clock.
    const other = `default/node-b`;
    const before = await status(0);
    sh('ip', ['-n', nodes[0]!, 'link', 'set', links[0]!, 'down']);
    const rounds = new Set<string>([before.timestamp ?? '']);
    await poll('node b unreachable', async () => {
      const s = await status(0);
      rounds.add(s.timestamp ?? '');
      return reachable(s, other) === false ? s : undefined;
    });
    expect(rounds.size - 1).toBeLessThanOrEqual(2);
    const down = await cli(0, 'status', '--verbose');
    expect(down.stdout).toMatch(/Cluster health:\s+1\/2 reachable/);
    expect(down.stdout).toContain(other);
    sh('ip', ['-n', nodes[0]!, 'link', 'set', links[0]!, 'up']);
    // Setting the link down flushed the routes through it: back as before.
    for (const i of [0, 1])
      sh('ip', ['-n', nodes[i]!, 'route', 'replace', podCidr[1 - i]!, 'via', underlay[1 - i]!]);
    await poll('node b reachable again', async () =>
      ((await status(0)).nodes ?? []).length === 2 && reachable(await status(0), other) === true
        ? true
        : undefined,
    );
    expect((await cli(0, 'status')).stdout).toMatch(/Cluster health:\s+2\/2 reachable/);

    // Stopped: no health namespace, link, responder or socket left.
    for (const [i, a] of agents.entries()) {
      expect(await a.kill('SIGTERM'), a.logs()).toBe(0);
      expect(existsSync(`/run/netns/${healthNs[i]!}`)).toBe(false);
      expect(inNs(nodes[i]!, 'ip', ['-o', 'link'])).not.toMatch(/lxc_h/);
      expect(existsSync(join(dirs[i]!, 'health.sock'))).toBe(false);
      // The health endpoint's own policy map went with it (the agent's shared maps stay pinned,
      // as they do for every restart).
      const pins = readdirSync(join(bpfRoots[i]!, 'tc', 'globals'));
      expect(pins.filter((p) => /^cellium_policy_\d+$/.test(p))).toEqual([]);
    }
    for (const h of healthNs) expect(pidsWith(`/run/netns/${h}`)).toEqual([]);
  }, 120_000);

  it('relaunches a responder that dies; after a crash the endpoint is reused, not duplicated', async () => {
    const id = uniq();
    const n = (parseInt(id.slice(0, 2), 16) % 200) + 20;
    const node = netns(`chr-${id}`);
    const healthNs = `chhr-${id}`;
    onTestFinished(() => {
      try {
        sh('ip', ['netns', 'del', healthNs]);
      } catch {
        // gone, as it should be
      }
    });
    // Another agent's health veth in the same namespace (the default --health-netns gets
    // lxc_health): this agent, with its own --health-netns, never touches it.
    const foreign = netns(`chf-${id}`);
    sh('ip', ['-n', node, 'link', 'add', 'lxc_health', 'type', 'veth', 'peer', 'name', 'eth0']);
    sh('ip', ['-n', node, 'link', 'set', 'eth0', 'netns', foreign]);
    const foreignIndex = (): string =>
      /^(\d+):/.exec(inNs(node, 'ip', ['-o', 'link', 'show', 'lxc_health']))?.[1] ?? '';
    const foreignBefore = foreignIndex();
    const dir = tempDir();
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const bpfRoot = testBpfRoot();
    const opts = {
      netns: node,
      dir,
      bpfRoot,
      health: true,
      args: [
        `--ipv4-range=10.245.${n}.0/24`,
        `--health-netns=${healthNs}`,
        '--health-probe-interval=1s',
      ],
    };
    type Ep = { id?: number; status?: { networking?: { addressing?: { ipv4?: string }[] } } };
    const endpoints = async (socket: string): Promise<Ep[]> => {
      const c = new ApiClient(socket);
      try {
        return await c.request<Ep[]>('GET', '/endpoint');
      } finally {
        c.close();
      }
    };
    const waitFor = async <T>(what: string, fn: () => T | undefined): Promise<T> => {
      for (let i = 0; ; i++) {
        const v = fn();
        if (v !== undefined) return v;
        if (i > 250) throw new Error(`timed out waiting for ${what}\n${agentLogs()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const responder = () => waitFor('the responder', () => pidsWith(`/run/netns/${healthNs}`)[0]);
    let agent: AgentProcess | undefined;
    const agentLogs = () => agent?.logs().split('\n').slice(-15).join('\n') ?? '';

    agent = await startAgent(opts);
    const first = await responder();
    expect(inNs(node, 'ip', ['-o', 'link'])).toMatch(/\d+: lxc_h[0-9a-f]{10}@/);
    process.kill(first, 'SIGKILL');
    const second = await waitFor('a new responder', () =>
      pidsWith(`/run/netns/${healthNs}`).find((p) => p !== first),
    );
    expect(second).not.toBe(first);
    const before = await endpoints(agent.socket);
    expect(before).toHaveLength(1);

    // A crash: the responder goes with the agent (its stdin closes); the namespace stays.
    await agent.kill('SIGKILL');
    await waitFor('the responder to exit', () =>
      pidsWith(`/run/netns/${healthNs}`).length === 0 ? true : undefined,
    );
    agent = await startAgent(opts);
    await responder();
    const after = await endpoints(agent.socket);
    expect(after.map((e) => [e.id, e.status?.networking?.addressing?.[0]?.ipv4])).toEqual(
      before.map((e) => [e.id, e.status?.networking?.addressing?.[0]?.ipv4]),
    );

    expect(await agent.kill('SIGTERM'), agent.logs()).toBe(0);
    expect(existsSync(`/run/netns/${healthNs}`)).toBe(false);
    // Its own veth (lxc_h<hash>) is gone; the other agent's lxc_health is the same link as before.
    expect(inNs(node, 'ip', ['-o', 'link'])).not.toMatch(/lxc_h[0-9a-f]{10}/);
    expect(foreignIndex()).toBe(foreignBefore);
    expect(pidsWith(`/run/netns/${healthNs}`)).toEqual([]);
  }, 120_000);
});
