// IPAM mode kubernetes against the in-memory reflected tables: the pools wait for this node's
// Node object and its podCIDRs, allocations wait meanwhile, and a later change is only reported.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiRequest } from '../../core/testing/api.js';
import { HealthTree, provideValue } from '../../core/hive/index.js';
import { eventually, testHive } from '../../core/testing/test-hive.js';
import { DB } from '../../core/statedb/index.js';
import { apiCell, ApiServer } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { K8sResources, type Node } from '../k8s/index.js';
import { newMemoryK8sResources, type MemoryK8sResources } from '../k8s/resources.memory.js';
import { Ipam, ipamCell } from './index.js';
import { podCidrsOf } from './k8s-pod-cidrs.js';

function node(name: string, podCIDRs?: unknown, extra: Partial<Node> = {}): Node {
  return {
    metadata: { name },
    ...(podCIDRs !== undefined ? { spec: { podCIDRs } } : {}),
    status: { addresses: [{ type: 'InternalIP', address: '192.0.2.10' }] },
    ...extra,
  } as Node;
}

function k8sIpamHive(flags: Record<string, unknown> = {}, enabled = true) {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-ipam-k8s-'));
  const res = newMemoryK8sResources(new DB(), enabled);
  const h = testHive([apiCell, daemonCell, ipamCell], {
    flags: {
      'socket-path': join(dir, 'api.sock'),
      'state-dir': dir,
      'node-name': 'n1',
      ipam: 'kubernetes',
      ...flags,
    },
    overrides: [provideValue(K8sResources, res)],
  });
  const resources = (): MemoryK8sResources => res;
  const health = (): string =>
    h
      .get(HealthTree)
      .all()
      .filter((s) => /(^|\.)ipam$/.test(s.id))
      .map((s) => `${s.level}: ${s.message}`)
      .join('\n');
  return { h, resources, health };
}

describe('pod CIDRs from a Node object', () => {
  it('takes the first CIDR of each enabled family and says what is missing or invalid', () => {
    expect(podCidrsOf(undefined, 'n1', ['ipv4'])).toEqual({ waiting: 'waiting for the Node n1' });
    const both = node('n1', ['10.1.0.0/24', 'fd00:1::/112', '10.2.0.0/24']);
    expect(podCidrsOf(both, 'n1', ['ipv4', 'ipv6'])).toEqual({
      cidrs: new Map([
        ['ipv4', '10.1.0.0/24'],
        ['ipv6', 'fd00:1::/112'],
      ]),
    });
    expect(podCidrsOf(node('n1'), 'n1', ['ipv4'])).toEqual({
      waiting: 'waiting for podCIDRs of node n1: no IPv4 pod CIDR yet',
    });
    expect(podCidrsOf(node('n1', ['10.1.0.0/24']), 'n1', ['ipv4', 'ipv6'])).toEqual({
      waiting: 'waiting for podCIDRs of node n1: no IPv6 pod CIDR yet',
    });
    expect(podCidrsOf(node('n1', ['10.1.0.1/24', 7]), 'n1', ['ipv4'])).toEqual({
      waiting:
        "waiting for podCIDRs of node n1: no IPv4 pod CIDR yet (spec.podCIDRs.0: '10.1.0.1/24' has host bits set; spec.podCIDRs.1: 7 is not a CIDR)",
    });
    expect(podCidrsOf(node('n1', 'x'), 'n1', ['ipv4'])).toEqual({
      waiting: 'Node n1: spec.podCIDRs is not a list',
    });
    // A hostile or broken Node: every address, loopback, multicast — skipped for the next one.
    const hostile = node('n1', [
      '0.0.0.0/0',
      '127.0.0.0/24',
      '224.1.0.0/16',
      '0.0.0.0/10',
      '::/0',
      'ff02::/64',
      '10.4.0.0/24',
    ]);
    expect(podCidrsOf(hostile, 'n1', ['ipv4'])).toEqual({
      cidrs: new Map([['ipv4', '10.4.0.0/24']]),
    });
    expect(podCidrsOf(hostile, 'n1', ['ipv6'])).toEqual({
      waiting:
        "waiting for podCIDRs of node n1: no IPv6 pod CIDR yet (spec.podCIDRs.0: '0.0.0.0/0' is every address, not a pod CIDR; spec.podCIDRs.1: '127.0.0.0/24' overlaps loopback addresses; spec.podCIDRs.2: '224.1.0.0/16' overlaps multicast addresses; spec.podCIDRs.3: '0.0.0.0/10' overlaps unspecified (\"this network\") addresses; spec.podCIDRs.4: '::/0' is every address, not a pod CIDR; spec.podCIDRs.5: 'ff02::/64' overlaps multicast addresses)",
    });
    // An older object with only spec.podCIDR.
    const old = { ...node('n1'), spec: { podCIDR: '10.3.0.0/24' } } as Node;
    expect(podCidrsOf(old, 'n1', ['ipv4'])).toEqual({ cidrs: new Map([['ipv4', '10.3.0.0/24']]) });
  });
});

describe('ipam mode kubernetes', () => {
  it('refuses to start in embedded mode, naming the flag', () => {
    const { h } = k8sIpamHive({}, false);
    expect(() => h.get(Ipam)).toThrow(/--ipam: 'kubernetes' .* needs Kubernetes mode/);
  });

  it('waits for the Node and its podCIDRs, then allocates from them', async () => {
    const { h, resources, health } = k8sIpamHive();
    const res = resources();
    await h.requireStart();
    const ipam = h.get(Ipam);
    expect(ipam.pools.size).toBe(0);
    expect(ipam.waitingFor()).toBe('waiting for the Node n1');
    expect(health()).toBe('ok: waiting for the Node n1');

    // A request made now waits for the pools (not refused, not answered from nothing).
    const app = h.get(ApiServer).app;
    const pending = apiRequest(app, 'POST', '/ipam?owner=default%2Fweb');
    let answered = false;
    void pending.then(() => (answered = true));

    res.upsert('nodes', node('other', ['10.7.0.0/24']), node('n1'));
    res.setSynced('nodes');
    await eventually(() => health().includes('no IPv4 pod CIDR yet'));
    expect(ipam.waitingFor()).toBe('waiting for podCIDRs of node n1: no IPv4 pod CIDR yet');
    const cfg = await apiRequest(app, 'GET', '/healthz');
    expect(JSON.stringify(cfg.body)).toContain('waiting for podCIDRs of node n1');
    expect(answered).toBe(false);

    res.upsert('nodes', node('n1', ['10.8.0.0/24']));
    const r = await pending;
    expect(r.status).toBe(201);
    expect((r.body as { address: { ipv4: string } }).address.ipv4).toBe('10.8.0.2');
    expect(ipam.waitingFor()).toBeUndefined();
    expect(health()).toBe('ok: IPv4 10.8.0.0/24: 1 of 253 in use');
    const c = await apiRequest(app, 'GET', '/config');
    expect(JSON.stringify(c.body)).toContain('"ipam-mode":"kubernetes"');
  });

  it('a podCIDR change while running is reported and not applied', async () => {
    const { h, resources } = k8sIpamHive();
    const res = resources();
    res.upsert('nodes', node('n1', ['10.8.0.0/24']));
    res.setSynced('nodes');
    await h.requireStart();
    const ipam = h.get(Ipam);
    await ipam.ready();
    const a = await ipam.allocateNext('ipv4', 'default/a');
    res.upsert('nodes', node('n1', ['10.9.0.0/24']));
    const changes = (): string =>
      h
        .get(HealthTree)
        .all()
        .find((s) => s.id.endsWith('ipam.podcidrs'))?.message ?? '';
    await eventually(() => changes().includes('changed'));
    expect(changes()).toBe(
      'the podCIDRs of Node n1 changed (now: 10.9.0.0/24); this agent keeps allocating from 10.8.0.0/24 until it is restarted',
    );
    expect(ipam.get(a.ip)?.owner).toBe('default/a');
    expect(ipam.pools.get('ipv4')?.cidr).toBe('10.8.0.0/24');
    // Back as it was: healthy again.
    res.upsert('nodes', node('n1', ['10.8.0.0/24']));
    await eventually(() => changes().startsWith('pod CIDRs 10.8.0.0/24'));
  });

  it('dual stack: an IPv6 /64 is used through its first addresses a pool can hold', async () => {
    const { h, resources } = k8sIpamHive({ 'enable-ipv6': true });
    const res = resources();
    res.upsert('nodes', node('n1', ['fd00:8::/64', '10.8.0.0/24']));
    res.setSynced('nodes');
    await h.requireStart();
    const ipam = h.get(Ipam);
    await ipam.ready();
    expect(ipam.pools.get('ipv4')?.cidr).toBe('10.8.0.0/24');
    expect(ipam.pools.get('ipv6')?.cidr).toBe('fd00:8::/106');
    expect((await ipam.allocateNext('ipv6', 'default/a')).ip).toBe('fd00:8::2');
  });

  it('a pod CIDR that cannot be a pool is said so, and the IPAM keeps waiting', async () => {
    const { h, resources, health } = k8sIpamHive();
    const res = resources();
    res.upsert('nodes', node('n1', ['10.8.0.0/31']));
    res.setSynced('nodes');
    await h.requireStart();
    await eventually(() => health().startsWith('degraded'));
    expect(health()).toBe(
      'degraded: podCIDRs of node n1 cannot be used: 10.8.0.0/31 is too small for a pod CIDR',
    );
    expect(h.get(Ipam).pools.size).toBe(0);
    res.upsert('nodes', node('n1', ['10.8.0.0/30']));
    await h.get(Ipam).ready();
    expect(h.get(Ipam).pools.get('ipv4')?.cidr).toBe('10.8.0.0/30');
  });
});
