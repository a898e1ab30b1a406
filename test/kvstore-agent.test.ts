import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { cellium } from './support/cli.js';
import { startEtcd } from './support/etcd.js';
import { ROOT, run, startAgent } from './support/procs.js';

async function kvstoreLine(socket: string): Promise<string> {
  const r = await cellium(socket, 'status');
  return /^KVStore:.*$/m.exec(r.stdout)?.[0] ?? '';
}

kernelSuite('an agent in kvstore mode', { root: false, commands: ['etcd'] }, () => {
  it('the built agent holds a lease in etcd, shows KVStore in `cellium status`, revokes it at stop', async () => {
    // The bundle leaves etcd3 external and loads it only in kvstore mode: run the built agent.
    const build = await run([process.execPath, '--import', 'tsx', 'scripts/build.ts']);
    expect(build.code, build.stderr).toBe(0);
    const etcd = await startEtcd();
    const agent = await startAgent({
      command: [process.execPath, join(ROOT, 'dist', 'cellium-agent.cjs')],
      args: [
        '--kvstore=etcd',
        `--kvstore-opt=etcd.address=${etcd.endpoint}`,
        '--kvstore-lease-ttl=5s',
      ],
    });
    const ok = new RegExp(
      `^KVStore:\\s+Ok\\s+etcd: 1/1 connected, lease-ID=([0-9a-f]+), has-quorum=true: ${etcd.endpoint} - 3\\.4\\.\\d+$`,
    );
    const line = await eventually(async () => ok.exec(await kvstoreLine(agent.socket)), 30_000);
    const lease = line[1] ?? '';
    const client = new Etcd3({ hosts: etcd.endpoint });
    onTestFinished(() => client.close());
    const leases = async (): Promise<string[]> =>
      (await client.leaseClient.leaseLeases()).leases.map((l) => BigInt(l.ID).toString(16));
    expect(await leases()).toContain(lease);

    await etcd.stop();
    await eventually(async () =>
      /^KVStore:\s+Failure\s+etcd: 0\/1 connected/.test(await kvstoreLine(agent.socket)),
    );
    await etcd.restart();
    await eventually(async () => ok.test(await kvstoreLine(agent.socket)), 30_000);

    expect(await agent.kill('SIGTERM')).toBe(0);
    expect(await leases()).not.toContain(lease);
  });
});
