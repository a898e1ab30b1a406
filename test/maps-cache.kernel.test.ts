// The maps' caches against real pinned maps: every entry the cache calls ok is in the kernel map
// with the same key and value, and a write the kernel refuses (the map is full) shows as insert
// with the kernel's error, in the cache and in the event stream.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { openMap } from '../core/bpf/index.js';
import { kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { LXC_MAP } from '../cells/maps/index.js';
import { startAgent, testBpfRoot } from './support/procs.js';

kernelSuite('map caches over pinned maps', {}, () => {
  it('ok entries are in the kernel map; a refused write is insert with the error', async () => {
    const bpfRoot = testBpfRoot();
    const agent = await startAgent({
      bpfRoot,
      args: ['--ipv4-range=10.82.0.0/24', '--bpf-lxc-map-max=1'],
    });
    const api = new CelliumClient(agent.socket);
    try {
      // Not built synchronously: a failed synchronous build undoes the endpoint, and this one
      // must stay desired while the kernel refuses it.
      const put = async (pod: string, sync: boolean) => {
        const ipam = await api.postIpam({ query: { owner: `default/${pod}` } });
        const ip = ipam.address.ipv4 ?? '';
        await api.putEndpointID({
          params: { id: 'cilium-local:0' },
          body: {
            addressing: { ipv4: ip },
            'container-id': `cid-${pod}`,
            'k8s-namespace': 'default',
            'k8s-pod-name': pod,
            state: 'waiting-for-identity',
            'sync-build-endpoint': sync,
          },
        });
        return ip;
      };
      const ip1 = await put('one', true);
      const ip2 = await put('two', false);
      const key = (ip: string) => `ip=${ip} family=1 key=0 cluster_id=0`;
      let lxc: Model<'BPFMap'> = {};
      await eventually(async () => {
        lxc = await api.getMapName({ params: { name: 'cellium_lxc' } });
        return lxc.cache?.find((e) => e.key === key(ip2))?.['last-error'] !== undefined;
      });
      expect(lxc.path).toBe(join(bpfRoot, 'tc', 'globals', 'cellium_lxc'));
      expect(lxc.cache?.find((e) => e.key === key(ip1))).toMatchObject({ 'desired-action': 'ok' });
      expect(lxc.cache?.find((e) => e.key === key(ip2))).toMatchObject({
        'desired-action': 'insert',
        'last-error': expect.stringMatching(/full/) as unknown,
      });

      // What the cache calls ok is what the kernel holds, key and value.
      const pinned = openMap(LXC_MAP, {
        backend: 'kernel',
        pinDir: join(bpfRoot, 'tc', 'globals'),
      });
      try {
        const kernel = new Map([...pinned.entries()].map(([k, v]) => pinned.format(k, v)));
        expect(kernel.size).toBe(1);
        for (const e of lxc.cache ?? []) {
          if (e['desired-action'] === 'ok') expect(kernel.get(e.key ?? '')).toBe(e.value);
          else expect(kernel.has(e.key ?? '')).toBe(false);
        }
      } finally {
        pinned.close();
      }

      // The refused write is in the event stream too.
      const body = await api.getMapNameEvents({ params: { name: 'cellium_lxc' } });
      let text = '';
      for await (const chunk of body) text += (chunk as Buffer).toString();
      const events = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Model<'MapEvent'>);
      expect(events).toContainEqual(
        expect.objectContaining({ key: key(ip1), action: 'update', 'desired-action': 'ok' }),
      );
      expect(events).toContainEqual(
        expect.objectContaining({
          key: key(ip2),
          action: 'update',
          'desired-action': 'insert',
          'last-error': expect.stringMatching(/full/) as unknown,
        }),
      );
    } finally {
      api.close();
    }
  });
});
