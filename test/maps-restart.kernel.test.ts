// The pinned maps survive the agent: kill -9, restart, same maps and entries.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openMap } from '../core/bpf/index.js';
import { kernelSuite } from '../core/testing/kernel.js';
import { METRICS_MAP } from '../cells/maps/index.js';
import { program, run, startAgent, testBpfRoot } from './support/procs.js';

kernelSuite('pinned maps across agent restarts', {}, () => {
  it('shows live counts, and after kill -9 and a restart the same maps and entries', async () => {
    const bpfRoot = testBpfRoot();
    const first = await startAgent({ bpfRoot });
    // cellium_metrics is written by the datapath and never pruned by the agent (what the agent
    // owns, lxc and ipcache, is reconciled against its tables, so stray entries are pruned).
    const metrics = openMap(METRICS_MAP, {
      backend: 'kernel',
      pinDir: join(bpfRoot, 'tc', 'globals'),
    });
    const perCpu = Array.from({ length: metrics.raw.ncpus }, () => ({ count: 5n, bytes: 500n }));
    for (const dir of [1, 2]) metrics.update({ reason: 0, dir }, perCpu);
    metrics.close();
    const cli = (socket: string, ...args: string[]) =>
      run([...program('cellium'), '-H', `unix://${socket}`, ...args]);
    const list = await cli(first.socket, 'map', 'list');
    expect(list.stdout).toMatch(/cellium_metrics\s+2\s+0\s+true/);
    expect(list.stdout).toMatch(/cellium_lxc\s+0\s+0\s+true/);

    first.proc.kill('SIGKILL');
    await first.exited;
    const second = await startAgent({ bpfRoot });
    expect(second.logs()).toContain(
      `reopened pinned map ${join(bpfRoot, 'tc', 'globals', 'cellium_metrics')}`,
    );
    const get = await cli(second.socket, '-o', 'json', 'map', 'get', 'cellium_metrics');
    const keys = (JSON.parse(get.stdout) as { cache: { key: string }[] }).cache
      .map((e) => e.key)
      .sort();
    expect(keys).toEqual(['reason=0 dir=1', 'reason=0 dir=2']);
  });
});
