// This node's CiliumNode, written by a real agent process against the API server double through
// the real @kubernetes/client-node: addresses, pod CIDRs, the owner reference to its Node; and
// rewritten when the data changes, keeping what others wrote. On in-memory maps.
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';
import { startAgent } from './support/procs.js';

const CNS = 'ciliumnodes.cilium.io';

interface CiliumNodeObj {
  metadata: {
    name: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
  spec?: {
    addresses?: { type: string; ip: string }[];
    ipam?: { podCIDRs?: string[]; pool?: Record<string, unknown> };
    encryption?: object;
  };
}

/** The first CiliumNode matching `pred` (polled: the CRD appears once the agent registered it). */
async function waitFor(
  api: ApiServerDouble,
  pred: (o: CiliumNodeObj) => boolean,
): Promise<CiliumNodeObj> {
  for (;;) {
    try {
      const hit = api.list<CiliumNodeObj>(CNS).find(pred);
      if (hit) return hit;
    } catch {
      // Not registered yet.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("this node's CiliumNode (API server double)", () => {
  it('is written with addresses, pod CIDRs and its Node as owner; others’ fields are kept', async () => {
    const api = await startApiServer();
    onTestFinished(() => api.stop());
    const self = `d-node-${randomBytes(3).toString('hex')}`;
    const node = api.create<{
      apiVersion: string;
      kind: string;
      metadata: { name: string; uid?: string; labels: Record<string, string> };
      spec: object;
      status: object;
    }>('nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: self, labels: { 'topology.kubernetes.io/zone': 'z1' } },
      spec: { podCIDRs: ['10.251.3.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.51' }] },
    });
    expect(node.metadata.uid).toBeTruthy();

    await startAgent({
      args: [
        '--bpf-backend=memory',
        `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
        `--node-name=${self}`,
        '--ipv4-range=10.251.3.0/24',
        '--ipv4-node=192.0.2.51',
        '--ipv6-node=',
      ],
    });
    const written = await waitFor(
      api,
      (o) =>
        o.metadata.name === self &&
        o.metadata.ownerReferences !== undefined &&
        (o.spec?.ipam?.podCIDRs?.length ?? 0) > 0,
    );
    expect(written.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Node', name: self, uid: node.metadata.uid },
    ]);
    expect(written.metadata.labels).toEqual({ 'topology.kubernetes.io/zone': 'z1' });
    expect(written.spec?.addresses).toEqual([{ type: 'InternalIP', ip: '192.0.2.51' }]);
    expect(written.spec?.ipam?.podCIDRs).toEqual(['10.251.3.0/24']);
    expect(written.spec?.encryption).toEqual({});

    // Someone (the operator) adds fields and a user breaks ours: the agent's next check puts its
    // fields back and keeps the others. (A Node label change pokes it.)
    const edited = api.get<CiliumNodeObj>(CNS, { name: self });
    if (!edited) throw new Error('the CiliumNode is gone');
    api.update(CNS, {
      ...edited,
      spec: {
        ...edited.spec,
        addresses: [],
        ipam: { ...edited.spec?.ipam, pool: { '10.251.3.9': {} } },
      },
    });
    api.patch('nodes', { name: self }, { metadata: { labels: { extra: 'yes' } } });
    const fixed = await waitFor(
      api,
      (o) =>
        o.metadata.name === self &&
        o.metadata.labels?.extra === 'yes' &&
        (o.spec?.addresses?.length ?? 0) > 0,
    );
    expect(fixed.spec?.addresses).toEqual([{ type: 'InternalIP', ip: '192.0.2.51' }]);
    expect(fixed.spec?.ipam).toEqual({ podCIDRs: ['10.251.3.0/24'], pool: { '10.251.3.9': {} } });
  });
});
