// An endpoint's host interface and program on the real kernel: only a pod's veth is accepted
// (never lo or a device carrying a node address), and an agent without a usable bpf_lxc object
// says so in its health and never calls an endpoint with an interface ready. Root only.
import { expect, it } from 'vitest';
import { ApiClient, ApiClientError } from '../core/api/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { netns, sh, uniq } from './support/netns.js';
import { restored, startAgent } from './support/procs.js';

interface Health {
  cilium: { state: string; msg: string };
  'modules-health': { modules: { 'module-id': string; level: string; message: string }[] };
}

/** A node namespace with a pod veth (no address) and a veth carrying a node address. */
function node(): { ns: string; pod: string; nodeDev: string; net: string } {
  const id = uniq();
  const ns = netns(`cnode-${id}`);
  const peer = netns(`cpod-${id}`);
  const net = `10.252.${(parseInt(id.slice(0, 2), 16) % 200) + 20}`;
  const pod = `lxc${id}`;
  const nodeDev = `up${id}`;
  sh('ip', ['-n', ns, 'link', 'add', pod, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
  sh('ip', ['-n', ns, 'link', 'set', pod, 'up']);
  sh('ip', ['-n', ns, 'link', 'add', nodeDev, 'type', 'veth', 'peer', 'name', `${nodeDev}p`]);
  sh('ip', ['-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', nodeDev]);
  return { ns, pod, nodeDev, net };
}

function endpoint(net: string, ifName: string, sync = true) {
  return {
    'container-id': `c-${ifName}`,
    'k8s-namespace': 'default',
    'k8s-pod-name': ifName,
    'interface-name': ifName,
    addressing: { ipv4: `${net}.10` },
    state: 'waiting-for-identity',
    'sync-build-endpoint': sync,
  };
}

async function put(api: ApiClient, body: unknown): Promise<string> {
  try {
    await api.request('PUT', '/endpoint/0', { body });
    return 'created';
  } catch (e) {
    if (e instanceof ApiClientError) return e.message;
    throw e;
  }
}

const needs = { objects: [BPF_LXC_OBJECT], commands: ['ip', 'tc', 'nsenter'] };

kernelSuite('endpoint interfaces and bpf_lxc on the kernel', needs, () => {
  it('accepts only a pod veth as an endpoint interface', async () => {
    const n = node();
    const agent = await startAgent({ netns: n.ns, args: [`--ipv4-range=${n.net}.0/24`] });
    await restored(agent.socket);
    const api = new ApiClient(agent.socket);
    expect(await put(api, endpoint(n.net, 'lo'))).toMatch(
      /400: interface-name: 'lo' is the loopback device, not a pod's veth$/,
    );
    expect(await put(api, endpoint(n.net, n.nodeDev))).toMatch(
      new RegExp(`400: interface-name: '${n.nodeDev}' carries the node address 192\\.0\\.2\\.1`),
    );
    expect(await put(api, endpoint(n.net, 'nosuch0'))).toMatch(
      /400: interface-name: no interface named 'nosuch0'/,
    );
    expect(await put(api, endpoint(n.net, n.pod))).toBe('created');
    // Nothing was attached to the devices that were refused.
    expect(sh('tc', ['-n', n.ns, 'filter', 'show', 'dev', n.pod, 'ingress'])).toMatch(/bpf/);
    expect(sh('tc', ['-n', n.ns, 'qdisc', 'show', 'dev', 'lo'])).not.toMatch(/clsact/);
    api.close();
  });

  it('without a usable bpf_lxc object: degraded health naming the flag, no endpoint ready', async () => {
    const n = node();
    const agent = await startAgent({
      netns: n.ns,
      args: [
        `--ipv4-range=${n.net}.0/24`,
        '--bpf-lxc-object=/nonexistent/bpf_lxc.o',
        // Long: a synchronous create must fail because the failure is permanent, not time out.
        '--endpoint-sync-timeout=10m',
      ],
    });
    await restored(agent.socket);
    const api = new ApiClient(agent.socket);
    const health = await api.request<Health>('GET', '/healthz');
    expect(health.cilium.state).toBe('Warning');
    const bpfLxc = health['modules-health'].modules.find((m) =>
      m['module-id'].endsWith('endpoint.bpf-lxc'),
    );
    expect(bpfLxc?.level).toBe('degraded');
    expect(bpfLxc?.message).toMatch(/--bpf-lxc-object/);
    expect(await put(api, endpoint(n.net, n.pod))).toMatch(
      /500: endpoint \d+ could not be built: .*\/nonexistent\/bpf_lxc\.o \(--bpf-lxc-object\) does not exist/,
    );
    expect(await put(api, endpoint(n.net, n.pod, false))).toBe('created');
    const states = async () =>
      (await api.request<{ status: { state: string } }[]>('GET', '/endpoint')).map(
        (e) => e.status.state,
      );
    await eventually(async () => (await states()).join() === 'not-ready');
    expect(await states()).toEqual(['not-ready']);
    api.close();
  });
});
