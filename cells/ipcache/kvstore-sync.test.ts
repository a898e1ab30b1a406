// The ipcache's kvstore sync in a hive against a real etcd (test/support/etcd.ts): what the
// table holds locally is published, what other nodes publish comes into the table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { kernelSuite } from '../../core/testing/kernel.js';
import { HealthTree, provideValue } from '../../core/hive/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import {
  etcdDelete,
  etcdLeaseOf,
  etcdList,
  etcdPut,
  etcdRevoke,
} from '../../test/support/etcd-keys.js';
import { startEtcd, type TestEtcd } from '../../test/support/etcd.js';
import { apiCell } from '../api/index.js';
import { daemonCell } from '../daemon/index.js';
import { identityCell } from '../identity/index.js';
import { kvstoreCell } from '../kvstore/index.js';
import { DatapathMaps, ipcacheKeyOf, mapsCell } from '../maps/index.js';
import { NodeIds } from '../node/index.js';
import { statedbCell, StateDB } from '../statedb/index.js';
import { ipcacheCell, IpcacheTable, IpcacheWriter } from './index.js';
import { ipKey } from './ip-value.js';

const HOST = '192.0.2.1';

async function syncHive(etcd: TestEtcd) {
  const root = mkdtempSync(join(tmpdir(), 'cellium-ipcache-kv-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  const h = testHive(
    [apiCell, statedbCell, identityCell, daemonCell, mapsCell, kvstoreCell, ipcacheCell],
    {
      flags: {
        'socket-path': join(root, 'api.sock'),
        'state-dir': join(root, 'state'),
        'bpf-backend': 'memory',
        'bpf-root': join(root, 'bpf'),
        kvstore: 'etcd',
        'kvstore-opt': `etcd.address=${etcd.endpoint}`,
      },
      // The node cell's answer for this node's IPs (its HostIP).
      overrides: [provideValue(NodeIds, { localIps: [HOST] } as unknown as NodeIds)],
    },
  );
  await h.requireStart();
  const db = h.get(StateDB);
  const table = h.get(IpcacheTable);
  return {
    h,
    writer: h.get(IpcacheWriter),
    row: (prefix: string) => table.get(db.readTxn(), prefix),
    map: () => h.get(DatapathMaps).ipcache,
  };
}

async function until<T>(fn: () => T | Promise<T>): Promise<NonNullable<T>> {
  for (;;) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const keys = async (etcd: TestEtcd): Promise<Map<string, string>> =>
  etcdList(etcd.endpoint, 'cilium/state/ip/v1/');

kernelSuite('ipcache kvstore sync (real etcd)', { root: false, commands: ['etcd'] }, () => {
  it('publishes local endpoint IPs (not the host identity), removes them, and ends with the last word', async () => {
    const etcd = await startEtcd();
    const { writer } = await syncHive(etcd);
    writer.upsert({
      prefix: '10.1.0.5',
      identity: 4711,
      source: 'local',
      namespace: 'shop',
      name: 'web',
    });
    writer.upsert({ prefix: HOST, identity: 1, source: 'local' });
    writer.upsert({ prefix: '10.99.0.0/16', identity: 16777300, source: 'generated' });
    const value = await until(async () => (await keys(etcd)).get(ipKey('10.1.0.5')));
    expect(JSON.parse(value)).toEqual({
      IP: '10.1.0.5',
      Mask: null,
      HostIP: HOST,
      ID: 4711,
      Key: 0,
      Metadata: '',
      K8sNamespace: 'shop',
      K8sPodName: 'web',
    });
    expect([...(await keys(etcd)).keys()]).toEqual([ipKey('10.1.0.5')]);

    // Deleted: gone. Deleted and at once re-created (with a new identity): present, the new one.
    writer.delete('10.1.0.5');
    await until(async () => !(await keys(etcd)).has(ipKey('10.1.0.5')));
    writer.upsert({ prefix: '10.1.0.6', identity: 4711, source: 'local' });
    writer.delete('10.1.0.6');
    writer.upsert({ prefix: '10.1.0.6', identity: 4712, source: 'local' });
    writer.delete('10.1.0.6');
    writer.upsert({ prefix: '10.1.0.6', identity: 4713, source: 'local' });
    await until(async () => (await keys(etcd)).get(ipKey('10.1.0.6'))?.includes('"ID":4713'));

    // Deleted by hand: written again.
    await etcdDelete(etcd.endpoint, ipKey('10.1.0.6'));
    await until(async () => (await keys(etcd)).has(ipKey('10.1.0.6')));

    // Taken by another writer: ours goes back (after a pause).
    const foreign = JSON.stringify({
      IP: '10.1.0.6',
      Mask: null,
      HostIP: '192.0.2.9',
      ID: 9,
      Key: 0,
      Metadata: '',
    });
    await etcdPut(etcd.endpoint, ipKey('10.1.0.6'), foreign);
    await until(async () =>
      (await keys(etcd)).get(ipKey('10.1.0.6'))?.includes(`"HostIP":"${HOST}"`),
    );
  });

  it("takes other nodes' entries as source kvstore, never over a local one", async () => {
    const etcd = await startEtcd();
    const { writer, row, map } = await syncHive(etcd);
    const pair = (ip: string, id: number, host = '192.0.2.9') =>
      JSON.stringify({
        IP: ip,
        Mask: null,
        HostIP: host,
        ID: id,
        Key: 0,
        Metadata: '',
        K8sPodName: 'db',
      });
    await etcdPut(etcd.endpoint, ipKey('10.2.0.7'), pair('10.2.0.7', 5000));
    await until(() => map().lookup(ipcacheKeyOf('10.2.0.7/32')));
    expect(row('10.2.0.7/32')).toMatchObject({
      identity: 5000,
      hostIP: '192.0.2.9',
      source: 'kvstore',
      name: 'db',
      status: { kind: 'done' },
    });
    expect(map().lookup(ipcacheKeyOf('10.2.0.7/32'))).toMatchObject({
      sec_identity: 5000,
      tunnel_endpoint: '192.0.2.9',
    });

    // Local wins (here an address of this node's, which is not published); once the local
    // entry goes the kvstore's takes its place.
    writer.upsert({ prefix: '10.2.0.8', identity: 1, source: 'local' });
    await etcdPut(etcd.endpoint, ipKey('10.2.0.8'), pair('10.2.0.8', 5001));
    await etcdPut(etcd.endpoint, ipKey('10.2.0.99'), pair('10.2.0.99', 5002));
    await until(() => row('10.2.0.99/32'));
    expect(row('10.2.0.8/32')).toMatchObject({ identity: 1, source: 'local' });
    writer.delete('10.2.0.8');
    await until(() => row('10.2.0.8/32')?.source === 'kvstore');
    // A local entry arriving over a kvstore one replaces it.
    writer.upsert({ prefix: '10.2.0.7', identity: 4711, source: 'local' });
    expect(row('10.2.0.7/32')?.source).toBe('local');

    // Entries of this node's HostIP are its own: not taken as another node's.
    await etcdPut(etcd.endpoint, ipKey('10.2.0.50'), pair('10.2.0.50', 5003, HOST));
    await etcdPut(etcd.endpoint, ipKey('10.2.0.51'), pair('10.2.0.51', 5004));
    await until(() => row('10.2.0.51/32'));
    expect(row('10.2.0.50/32')).toBeUndefined();

    // Deleted in etcd (a lease expired): gone from the table and the map.
    await etcdDelete(etcd.endpoint, ipKey('10.2.0.51'));
    await until(() => row('10.2.0.51/32') === undefined);
    await until(() => map().lookup(ipcacheKeyOf('10.2.0.51/32')) === undefined);
  });

  it("never writes back the value of a deleted endpoint over another writer's, after a lease renewal", async () => {
    const etcd = await startEtcd();
    const { h, writer } = await syncHive(etcd);
    const pair = (ip: string, host: string) =>
      JSON.stringify({ IP: ip, Mask: null, HostIP: host, ID: 9, Key: 0, Metadata: '' });
    writer.upsert({ prefix: '10.4.0.1', identity: 4711, source: 'local' });
    writer.upsert({ prefix: '10.4.0.2', identity: 4711, source: 'local' });
    await until(async () => (await keys(etcd)).size === 2);
    // Another node takes 10.4.0.1's key (kept out of the table by the local entry); the endpoint
    // goes before this agent put its value back (it waits a second); the next write shows the
    // sync ran.
    const foreign = pair('10.4.0.1', '192.0.2.9');
    await etcdPut(etcd.endpoint, ipKey('10.4.0.1'), foreign);
    await until(() => JSON.stringify(h.get(HealthTree).all()).includes('1 kept out by local ones'));
    writer.delete('10.4.0.1');
    writer.upsert({ prefix: '10.4.0.3', identity: 4711, source: 'local' });
    await until(async () => (await keys(etcd)).has(ipKey('10.4.0.3')));
    expect((await keys(etcd)).get(ipKey('10.4.0.1'))).toBe(foreign);
    // The session lease lost: the agent re-writes its session's keys under a new one.
    const lease = (await etcdLeaseOf(etcd.endpoint, ipKey('10.4.0.2'))) ?? '';
    await etcdRevoke(etcd.endpoint, lease);
    for (const ip of ['10.4.0.2', '10.4.0.3']) {
      await until(async () => {
        const now = await etcdLeaseOf(etcd.endpoint, ipKey(ip));
        return now !== undefined && now !== '0' && now !== lease;
      });
    }
    writer.upsert({ prefix: '10.4.0.4', identity: 4711, source: 'local' });
    await until(async () => (await keys(etcd)).has(ipKey('10.4.0.4')));
    expect((await keys(etcd)).get(ipKey('10.4.0.1'))).toBe(foreign);
  });

  it('publishes what was created while etcd was down once it returns, and nothing twice', async () => {
    const etcd = await startEtcd();
    const { writer } = await syncHive(etcd);
    writer.upsert({ prefix: '10.3.0.1', identity: 4711, source: 'local' });
    await until(async () => (await keys(etcd)).has(ipKey('10.3.0.1')));
    await etcd.stop();
    writer.upsert({ prefix: '10.3.0.2', identity: 4711, source: 'local' });
    writer.delete('10.3.0.1');
    writer.upsert({ prefix: '10.3.0.3', identity: 4712, source: 'local' });
    await etcd.restart();
    await until(async () => {
      const k = [...(await keys(etcd)).keys()].sort().join(' ');
      return k === [ipKey('10.3.0.2'), ipKey('10.3.0.3')].join(' ');
    });
  });
});
