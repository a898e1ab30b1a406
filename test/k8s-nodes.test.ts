// Nodes in Kubernetes mode on a real agent process against the API server double, through the
// real @kubernetes/client-node: --ipam=kubernetes waits for its Node's podCIDRs and says so,
// then allocates from them; once ready the agent-not-ready taint goes (other taints stay, one put
// back is removed again) and Cilium's annotations are set; other Nodes are listed with source
// k8s and leave with their object. On in-memory maps: the datapath is not what is tested.
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ApiClient, type Model } from '../core/api/index.js';
import { startApiServer, type RequestRecord } from './support/apiserver.js';
import { cellium, celliumJson } from './support/cli.js';
import { restored, startAgent, tempDir, testBpfRoot } from './support/procs.js';

const TAINT = 'node.cilium.io/agent-not-ready';

interface NodeObj {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { podCIDRs?: string[]; taints?: { key: string; effect: string }[] };
}

function nodeObject(
  name: string,
  ip: string,
  podCIDRs: string[] | undefined,
  taints: { key: string; effect: string }[] = [],
): NodeObj & Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: { ...(podCIDRs ? { podCIDRs } : {}), ...(taints.length > 0 ? { taints } : {}) },
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

/** Polls until `fn` gives something (the test's timeout bounds it). */
async function until<T>(fn: () => T | Promise<T>): Promise<NonNullable<T>> {
  for (;;) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('nodes in Kubernetes mode (API server double)', () => {
  it('waits for its podCIDRs, allocates from them, marks its Node ready and lists the others', async () => {
    const api = await startApiServer();
    onTestFinished(() => api.stop());
    const suffix = randomBytes(3).toString('hex');
    const self = `e-node-${suffix}`;
    const other = `e-other-${suffix}`;
    api.create('nodes', nodeObject(other, '192.0.2.42', ['10.242.0.0/24']));

    const agent = await startAgent({
      args: [
        '--bpf-backend=memory',
        `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
        `--node-name=${self}`,
        '--ipam=kubernetes',
        '--annotate-k8s-node=true',
        '--ipv4-node=192.0.2.41',
        '--ipv6-node=',
      ],
    });
    const client = new ApiClient(agent.socket);
    onTestFinished(() => client.close());
    const healthz = () => client.request<Model<'StatusResponse'>>('GET', '/healthz');

    // No Node yet: the agent says what it waits for.
    const waiting = await until(async () => {
      const msg = (await healthz()).cilium?.msg ?? '';
      return msg.includes(`waiting for the Node ${self}`) && msg;
    });
    expect(waiting).toMatch(/^not ready: /);
    // The other node is already listed, from Kubernetes.
    const list = await until(async () => {
      const nodes = await celliumJson<Model<'NodeElement'>[]>(agent.socket, 'node', 'list');
      return nodes.length === 2 ? nodes : undefined;
    });
    // ... and routed to: its pod CIDR in the ipcache with the node as tunnel endpoint.
    const ipcache = () => client.request<Model<'IPListEntry'>[]>('GET', '/ip');
    const routed = await until(async () =>
      (await ipcache()).find((e) => e.cidr === '10.242.0.0/24'),
    );
    expect(routed.hostIP).toBe('192.0.2.42');
    expect(list[1]).toMatchObject({
      name: `default/${other}`,
      source: 'k8s',
      'primary-address': { ipv4: { ip: '192.0.2.42', 'alloc-range': '10.242.0.0/24' } },
    });

    // The Node comes without podCIDRs, then gets them (as the controller-manager assigns them).
    api.create(
      'nodes',
      nodeObject(self, '192.0.2.41', undefined, [
        { key: TAINT, effect: 'NoSchedule' },
        { key: 'example.com/keep', effect: 'NoSchedule' },
      ]),
    );
    await until(async () =>
      ((await healthz()).cilium?.msg ?? '').includes(`waiting for podCIDRs of node ${self}`),
    );
    // The first taint removal fails as a failed `test` does (the taints changed meanwhile):
    // the agent reads the Node again and retries.
    api.failRequests({
      match: (r) =>
        r.verb === 'patch' && r.name === self && r.contentType.startsWith('application/json-patch'),
      code: 422,
      times: 1,
    });
    const pending = client.request<Model<'IPAMResponse'>>('POST', '/ipam?owner=default%2Fweb');
    api.patch('nodes', { name: self }, { spec: { podCIDRs: ['10.241.0.0/24'] } });
    const ipam = await pending;
    expect(ipam.address.ipv4).toBe('10.241.0.2');
    expect(ipam['host-addressing'].ipv4).toEqual({
      enabled: true,
      ip: '10.241.0.1',
      'alloc-range': '10.241.0.0/24',
    });

    // Ready: the taint goes (only it), the annotations come.
    const marked = await api.waitFor<NodeObj>(
      'nodes',
      (n) =>
        n.metadata.name === self &&
        !(n.spec?.taints ?? []).some((t) => t.key === TAINT) &&
        n.metadata.annotations?.['network.cilium.io/ipv4-pod-cidr'] !== undefined,
    );
    expect(marked.spec?.taints).toEqual([{ key: 'example.com/keep', effect: 'NoSchedule' }]);
    expect(marked.metadata.annotations).toMatchObject({
      'network.cilium.io/ipv4-pod-cidr': '10.241.0.0/24',
      'network.cilium.io/ipv4-cilium-host': '10.241.0.1',
    });
    // One JSON patch that tests the taints it replaces: refused once (422), then done.
    const jsonPatch = (r: RequestRecord): boolean =>
      r.verb === 'patch' &&
      r.resource === 'nodes' &&
      r.name === self &&
      r.contentType.startsWith('application/json-patch+json');
    const ok = await api.waitForRequest((r) => jsonPatch(r) && r.code === 200);
    expect(api.requests.filter(jsonPatch).map((r) => r.code)).toEqual([422, 200]);
    expect(api.requests.indexOf(ok)).toBeGreaterThan(api.requests.findIndex(jsonPatch));
    // Only this node is written to, and only with patches (the Node is read from the watch).
    expect(
      api.requests
        .filter((r) => r.resource === 'nodes' && r.verb !== 'list' && r.verb !== 'watch')
        .every((r) => r.verb === 'patch' && r.name === self),
    ).toBe(true);
    expect(
      api.requests.some((r) => r.resource === 'nodes' && r.name === other && r.verb === 'patch'),
    ).toBe(false);

    // The taint put back by hand while the agent runs is removed again.
    api.patch(
      'nodes',
      { name: self },
      [{ op: 'add', path: '/spec/taints/-', value: { key: TAINT, effect: 'NoSchedule' } }],
      { type: 'application/json-patch+json' },
    );
    await api.waitFor<NodeObj>(
      'nodes',
      (n) => n.metadata.name === self && n.spec?.taints?.length === 1,
    );

    // Another Node appears, one goes: `cellium node list` follows.
    const third = `e-third-${suffix}`;
    api.create('nodes', nodeObject(third, '192.0.2.43', ['10.243.0.0/24']));
    api.delete('nodes', { name: other });
    const after = await until(async () => {
      const r = await cellium(agent.socket, 'node', 'list');
      return !r.stdout.includes(other) && r.stdout.includes(third) && r.stdout;
    });
    expect(after).toMatch(
      new RegExp(`default/${third}\\s+192\\.0\\.2\\.43\\s+10\\.243\\.0\\.0/24\\s+k8s`),
    );
    // The deleted node's pod CIDR left the ipcache with it.
    await until(async () => !(await ipcache()).some((e) => e.cidr === '10.242.0.0/24'));
    expect(after).toMatch(
      new RegExp(`default/${self}\\s+192\\.0\\.2\\.41\\s+10\\.241\\.0\\.0/24\\s+local`),
    );
  });

  it('after a restart, restores its endpoints only once its podCIDRs are known again', async () => {
    const api = await startApiServer();
    onTestFinished(() => api.stop());
    const self = `e-restart-${randomBytes(3).toString('hex')}`;
    api.create('nodes', nodeObject(self, '192.0.2.51', ['10.251.0.0/24']));
    const dir = tempDir();
    const bpfRoot = testBpfRoot();
    const args = [
      '--bpf-backend=memory',
      `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
      `--node-name=${self}`,
      '--ipam=kubernetes',
      '--ipv4-node=192.0.2.51',
      '--ipv6-node=',
    ];
    const first = await startAgent({ dir, bpfRoot, args });
    const c1 = new ApiClient(first.socket);
    const ip = (await c1.request<Model<'IPAMResponse'>>('POST', '/ipam?owner=default%2Fweb'))
      .address.ipv4;
    expect(ip).toBe('10.251.0.2');
    await c1.request('PUT', '/endpoint/cilium-local:0', {
      body: {
        addressing: { ipv4: ip },
        'container-id': 'e'.repeat(64),
        'k8s-namespace': 'default',
        'k8s-pod-name': 'web',
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
      },
    });
    c1.close();
    await first.kill('SIGTERM');

    // The Node has no podCIDRs when the agent comes back: restore waits for them.
    api.patch('nodes', { name: self }, { spec: { podCIDRs: null } });
    const second = await startAgent({ dir, bpfRoot, args });
    const c2 = new ApiClient(second.socket);
    onTestFinished(() => c2.close());
    await until(async () => {
      const s = await c2.request<Model<'StatusResponse'>>('GET', '/healthz');
      return (s.cilium?.msg ?? '').includes(`waiting for podCIDRs of node ${self}`);
    });
    api.patch('nodes', { name: self }, { spec: { podCIDRs: ['10.251.0.0/24'] } });
    await restored(second.socket);
    const eps = await c2.request<Model<'Endpoint'>[]>('GET', '/endpoint');
    expect(eps.map((e) => e.status?.networking?.addressing?.[0]?.ipv4)).toEqual([ip]);
    // Its IP is held again: the next allocation is another.
    const next = await c2.request<Model<'IPAMResponse'>>('POST', '/ipam?owner=default%2Fdb');
    expect(next.address.ipv4).toBe('10.251.0.3');
  });

  it('skips hostile Node objects, naming them in health; the valid nodes and the agent stay', async () => {
    const api = await startApiServer();
    onTestFinished(() => api.stop());
    const suffix = randomBytes(3).toString('hex');
    const good = `e-good-${suffix}`;
    const bad = `e-bad-${suffix}`;
    api.create('nodes', nodeObject(good, '192.0.2.61', ['10.61.0.0/24']));
    // In the first list: addresses that are no list, pod CIDRs that are no CIDRs.
    api.injectRaw('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: bad },
      spec: { podCIDRs: [{ $gt: 1 }, 'x'.repeat(100_000)] },
      status: { addresses: 'everywhere' },
    });
    const agent = await startAgent({
      args: [
        '--bpf-backend=memory',
        `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
        `--node-name=e-self-${suffix}`,
        '--ipv4-node=192.0.2.60',
        '--ipv6-node=',
      ],
    });
    const client = new ApiClient(agent.socket);
    onTestFinished(() => client.close());
    const health = async (): Promise<string> =>
      JSON.stringify(
        (await client.request<Model<'StatusResponse'>>('GET', '/healthz'))['modules-health'] ?? '',
      );
    await until(async () => (await health()).includes(`node ${bad}: skipped`));
    expect(await health()).toContain(
      `node ${bad}: skipped: status.addresses: no InternalIP or ExternalIP (status.addresses: not a list)`,
    );
    const names = async () =>
      (await celliumJson<Model<'NodeElement'>[]>(agent.socket, 'node', 'list')).map((n) => n.name);
    await until(async () => (await names()).includes(`default/${good}`));
    expect(await names()).not.toContain(`default/${bad}`);

    // Through the watch: the good node turns hostile (claims this node's IP), then comes back.
    api.injectRaw('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: good },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.60' }] },
    });
    await until(async () => !(await names()).includes(`default/${good}`));
    expect(await health()).toContain(`node ${good}: skipped: claims this node's IP 192.0.2.60`);
    // (Its addresses are status: written through the status subresource, as the kubelet does.)
    api.updateStatus('nodes', nodeObject(good, '192.0.2.61', ['10.61.0.0/24']));
    await until(async () => (await names()).includes(`default/${good}`));
    expect(agent.proc.exitCode).toBeNull();
  });

  it('refuses --ipam=kubernetes in embedded mode, naming the flag', async () => {
    const agent = startAgent({ args: ['--bpf-backend=memory', '--ipam=kubernetes'] });
    await expect(agent).rejects.toThrow(/--ipam: 'kubernetes' .*needs Kubernetes mode/);
  });
});
