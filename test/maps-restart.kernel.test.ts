// The pinned maps survive the agent: kill -9, restart, same maps and entries.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openMap } from '../core/bpf/index.js';
import { kernelTests } from '../core/testing/kernel.js';
import { endpointKeyOf, LXC_MAP } from '../cells/maps/index.js';
import { program, run, startAgent, testBpfRoot } from './support/procs.js';

const k = kernelTests();

describe.skipIf(!k.ok)(
  k.ok
    ? 'pinned maps across agent restarts'
    : `pinned maps across agent restarts (skipped: ${k.reason})`,
  () => {
    it('shows live counts, and after kill -9 and a restart the same maps and entries', async () => {
      const bpfRoot = testBpfRoot();
      const first = await startAgent([], bpfRoot);
      const lxc = openMap(LXC_MAP, { backend: 'kernel', pinDir: join(bpfRoot, 'tc', 'globals') });
      for (const [ip, id] of [
        ['10.0.0.5', 5],
        ['fd00::6', 6],
      ] as const) {
        lxc.update(endpointKeyOf(ip), {
          ifindex: 10 + id,
          lxc_id: id,
          flags: 0,
          mac: `02:00:00:00:00:0${id}`,
          node_mac: '02:00:00:00:00:01',
          sec_id: 1000 + id,
        });
      }
      lxc.close();
      const list = await run([
        ...program('cellium'),
        '-H',
        `unix://${first.socket}`,
        'map',
        'list',
      ]);
      expect(list.stdout).toMatch(/cellium_lxc\s+2\s+0\s+false/);
      expect(list.stdout).toMatch(/cellium_ipcache\s+0\s+0\s+false/);

      first.proc.kill('SIGKILL');
      await first.exited;
      const second = await startAgent([], bpfRoot);
      expect(second.logs()).toContain(
        `reopened pinned map ${join(bpfRoot, 'tc', 'globals', 'cellium_lxc')}`,
      );
      const get = await run([
        ...program('cellium'),
        '-H',
        `unix://${second.socket}`,
        '-o',
        'json',
        'map',
        'get',
        'cellium_lxc',
      ]);
      const keys = (JSON.parse(get.stdout) as { cache: { key: string }[] }).cache
        .map((e) => e.key)
        .sort();
      expect(keys).toEqual([
        'ip=10.0.0.5 family=1 key=0 cluster_id=0',
        'ip=fd00::6 family=2 key=0 cluster_id=0',
      ]);
    });
  },
);
