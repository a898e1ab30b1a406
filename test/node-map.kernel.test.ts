// cellium_node_map on the real kernel: pinned under the agent's bpf root, its allocations taken
// back by a new agent (kill -9 in between), entries a new agent must not keep removed.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openMap } from '../core/bpf/index.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { kernelSuite } from '../core/testing/kernel.js';
import { NODE_MAP, nodeKeyOf } from '../cells/node/index.js';
import { celliumJson } from './support/cli.js';
import { startAgent, tempDir, testBpfRoot } from './support/procs.js';

kernelSuite('node map (kernel)', {}, () => {
  it('restores node ids from the pinned map across a kill -9, dropping id 0 and local IPs', async () => {
    const bpfRoot = testBpfRoot();
    const dir = tempDir();
    const args = ['--ipv4-node=10.97.0.1', '--ipv6-node='];
    const first = await startAgent({ bpfRoot, dir, args });
    expect(await celliumJson(first.socket, 'nodeid', 'list')).toEqual([
      { id: 0, ips: ['10.97.0.1'] },
    ]);
    // What another node's arrival leaves in the map (the cell that learns of nodes is issue
    // 12), plus entries no agent may keep: id 0, and this node's own IP.
    const pinned = openMap(NODE_MAP, { backend: 'kernel', pinDir: join(bpfRoot, 'tc', 'globals') });
    pinned.update(nodeKeyOf('10.97.0.2'), { node_id: 42, spi: 0 });
    pinned.update(nodeKeyOf('fd97::2'), { node_id: 42, spi: 0 });
    pinned.update(nodeKeyOf('10.97.0.3'), { node_id: 0, spi: 0 });
    pinned.update(nodeKeyOf('10.97.0.1'), { node_id: 7, spi: 0 });
    first.proc.kill('SIGKILL');
    await first.exited;

    const second = await startAgent({ bpfRoot, dir, args });
    expect(await celliumJson(second.socket, 'nodeid', 'list')).toEqual([
      { id: 0, ips: ['10.97.0.1'] },
      { id: 42, ips: ['10.97.0.2', 'fd97::2'] },
    ]);
    expect([...pinned.keys()].map((k) => k.ip).sort()).toEqual(['10.97.0.2', 'fd97::2']);
    const api = new CelliumClient(second.socket);
    try {
      const maps = await api.getMap();
      expect(maps.maps?.map((m) => m.path)).toContain(
        join(bpfRoot, 'tc', 'globals', 'cellium_node_map'),
      );
    } finally {
      api.close();
    }
    pinned.close();
  });
});
