import { describe, expect, it } from 'vitest';
import { newRootLogger } from '../../core/hive/index.js';
import { statusPending } from '../../core/reconciler/index.js';
import { DB } from '../../core/statedb/index.js';
import type { CiliumEndpointObject } from './k8s-cep-api.js';
import { cepOps, nodeIp, type CepRow } from './k8s-cep.js';
import { MemoryCepApi } from './k8s-cep.memory.js';

const ctx = { signal: new AbortController().signal, txn: new DB().readTxn() };
const logger = newRootLogger({ silent: true });

function row(name: string, identity: number, node = '10.0.0.1'): CepRow {
  return {
    namespace: 'ns',
    name,
    podUid: `uid-${name}`,
    status: {
      id: 1,
      'external-identifiers': {},
      identity: { id: identity, labels: [] },
      networking: { addressing: [{ ipv4: '10.9.0.5' }], node },
      state: 'ready',
      'named-ports': [],
      encryption: {},
    },
    reconcile: statusPending(),
  };
}

describe('CiliumEndpoint operations', () => {
  it("give up their calls when the reconciler's signal aborts (the agent stopping while the API server hangs)", async () => {
    const api = new MemoryCepApi();
    const ops = cepOps(api, () => '10.0.0.1', logger);
    api.hang = true;
    for (const op of [
      (c: typeof ctx) => ops.update(c, row('a', 300)),
      (c: typeof ctx) => ops.delete(c, row('a', 300)),
      (c: typeof ctx) => ops.prune(c, []),
    ]) {
      const ctl = new AbortController();
      const done = op({ ...ctx, signal: ctl.signal });
      ctl.abort();
      await expect(done).rejects.toThrow('aborted');
    }
    expect(api.calls).toEqual(['get ns/a', 'delete ns/a', 'list /']);
  });

  it('creates, replaces with the resourceVersion it read, and reads again after a conflict', async () => {
    const api = new MemoryCepApi();
    const ops = cepOps(api, () => '10.0.0.1', logger);
    await ops.update(ctx, row('a', 300));
    expect(api.objects.get('ns/a')?.status?.identity.id).toBe(300);
    // Someone else writes it: our remembered resourceVersion is stale.
    const theirs = structuredClone(api.objects.get('ns/a')!);
    await api.replace({ ...theirs, status: { ...theirs.status!, state: 'x' } });
    api.calls.length = 0;
    await ops.update(ctx, row('a', 301));
    expect(api.objects.get('ns/a')?.status).toMatchObject({
      identity: { id: 301 },
      state: 'ready',
    });
    expect(api.calls).toEqual(['update ns/a', 'get ns/a', 'update ns/a']);
  });

  it('adopts an existing object (a restart) and deletes what is absent without error', async () => {
    const api = new MemoryCepApi();
    await api.create({ metadata: { name: 'a', namespace: 'ns' } });
    const ops = cepOps(api, () => '10.0.0.1', logger);
    await ops.update(ctx, row('a', 300));
    expect(api.calls.filter((c) => c.startsWith('create'))).toEqual(['create ns/a']);
    await ops.delete(ctx, row('a', 300));
    await ops.delete(ctx, row('a', 300));
    expect(api.objects.size).toBe(0);
  });

  it("prunes only this node's objects no row wants, skipping malformed ones", async () => {
    const api = new MemoryCepApi();
    const ops = cepOps(api, () => '10.0.0.1', logger);
    for (const r of [row('keep', 1), row('stale', 2), row('other', 3, '10.0.0.2')]) {
      await ops.update(ctx, r);
    }
    api.objects.set('ns/junk', null as unknown as CiliumEndpointObject);
    api.objects.set('ns/nometa', { status: 5 } as unknown as CiliumEndpointObject);
    await ops.prune(ctx, [row('keep', 1)]);
    expect([...api.objects.keys()].sort()).toEqual(['ns/junk', 'ns/keep', 'ns/nometa', 'ns/other']);
    // Without the node's IP nothing can be told apart: nothing is deleted.
    await cepOps(api, () => '', logger).prune(ctx, []);
    expect(api.objects.size).toBe(4);
  });

  it("takes the node's InternalIP, IPv4 first, from its Node object", () => {
    expect(
      nodeIp({
        metadata: { name: 'n' },
        status: {
          addresses: [
            { type: 'Hostname', address: 'n' },
            { type: 'InternalIP', address: 'fd00::1' },
            { type: 'InternalIP', address: '10.1.2.3' },
          ],
        },
      }),
    ).toBe('10.1.2.3');
    expect(nodeIp(undefined)).toBe('');
  });
});
