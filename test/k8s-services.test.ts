// Kubernetes Services and EndpointSlices → the load balancer, end to end: the agent (from its
// sources, real maps as root) joins the API server double through its kubeconfig; Services and
// EndpointSlices created, changed and deleted in the double show in `cellium service list` and in
// the pinned LB maps as the kernel has them (read by bpftool; nothing of ours opens the pins).
import { randomInt } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Model } from '../core/api/types.js';
import { kernelSuite } from '../core/testing/kernel.js';
import { eventually } from '../core/testing/test-hive.js';
import { startApiServer, type ApiServerDouble } from './support/apiserver.js';
import { cellium, celliumJson } from './support/cli.js';
import { sh } from './support/netns.js';
import { startAgent, tempDir, testBpfRoot, type AgentProcess } from './support/procs.js';

type Service = Model<'Service'>;

interface Row {
  key: string[];
  value: string[];
}

const bytes = (hex: readonly string[]): Buffer => Buffer.from(hex.map((h) => parseInt(h, 16)));

/**
 * The IPv4 TCP frontends of the pinned services map as `ip:port` → the backends its active slots
 * point at (`ip:port`, sorted), as the datapath would pick them.
 */
function lbMaps(bpfRoot: string): Record<string, string[]> {
  const dump = (name: string) =>
    JSON.parse(
      sh('bpftool', ['-j', 'map', 'dump', 'pinned', `${bpfRoot}/tc/globals/${name}`]),
    ) as Row[];
  const ipPort = (b: Buffer, at: number) =>
    `${b[at] ?? 0}.${b[at + 1] ?? 0}.${b[at + 2] ?? 0}.${b[at + 3] ?? 0}:${b.readUInt16BE(at + 4)}`;
  const backends = new Map<number, string>();
  for (const r of dump('cellium_lb4_backends_v3')) {
    backends.set(bytes(r.key).readUInt32LE(0), ipPort(bytes(r.value), 0));
  }
  const masters = new Map<string, number>();
  const slots = new Map<string, Map<number, number>>();
  for (const r of dump('cellium_lb4_services_v2')) {
    const k = bytes(r.key);
    const v = bytes(r.value);
    if (k[8] !== 6 || k[9] !== 0) continue; // TCP, external scope
    const fe = ipPort(k, 0);
    const slot = k.readUInt16LE(6);
    if (slot === 0) masters.set(fe, v.readUInt16LE(4));
    else {
      const m = slots.get(fe) ?? new Map<number, number>();
      m.set(slot, v.readUInt32LE(0));
      slots.set(fe, m);
    }
  }
  const out: Record<string, string[]> = {};
  for (const [fe, count] of masters) {
    const s = slots.get(fe);
    out[fe] = Array.from(
      { length: count },
      (_, i) => backends.get(s?.get(i + 1) ?? 0) ?? 'dangling',
    ).sort();
  }
  return out;
}

function slice(name: string, service: string, ips: readonly string[], port = 8080) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({
      addresses: [ip],
      conditions: { ready: true },
      nodeName: 'node-a',
    })),
  };
}

async function start(
  o: { api?: ApiServerDouble; dir?: string; bpfRoot?: string } = {},
): Promise<{ api: ApiServerDouble; agent: AgentProcess; bpfRoot: string; dir: string }> {
  let api = o.api;
  if (!api) {
    const started = await startApiServer();
    onTestFinished(() => started.stop());
    api = started;
  }
  const bpfRoot = o.bpfRoot ?? testBpfRoot();
  const dir = o.dir ?? tempDir();
  const agent = await startAgent({
    bpfRoot,
    dir,
    args: [
      `--k8s-kubeconfig-path=${api.kubeconfigPath}`,
      '--node-name=node-a',
      `--ipv4-range=${POD_CIDR}`,
      '--bpf-lb-map-max=16384',
    ],
  });
  return { api, agent, bpfRoot, dir };
}

const POD_CIDR = `10.${randomInt(160, 200)}.${randomInt(0, 256)}.0/24`;

function service(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
}

kernelSuite('Kubernetes services into the LB maps', { commands: ['bpftool'] }, () => {
  describe('a Service and its EndpointSlice in the API server double', () => {
    it('shows in service list and the maps; follows slice changes; goes with the Service', async () => {
      const { api, agent, bpfRoot } = await start();
      const svc = api.create<object>('services', service('web')) as { spec: { clusterIP: string } };
      const vip = `${svc.spec.clusterIP}:80`;
      api.create('endpointslices', slice('web-a', 'web', ['10.1.0.1', '10.1.0.2']));

      const list = () => celliumJson<Service[]>(agent.socket, 'service', 'list');
      const row = async () =>
        (await list()).find((s) => s.spec?.['frontend-address'].ip === svc.spec.clusterIP);
      const listed = await eventually(row, 30_000);
      expect(listed.spec?.flags).toMatchObject({
        name: 'web',
        namespace: 'default',
        type: 'ClusterIP',
      });
      await eventually(() => lbMaps(bpfRoot)[vip]?.length === 2, 30_000);
      expect(lbMaps(bpfRoot)[vip]).toEqual(['10.1.0.1:8080', '10.1.0.2:8080']);
      // The double's own `kubernetes` Service has no slice here: a frontend without backends.
      expect(Object.keys(lbMaps(bpfRoot))).toContain('10.96.0.1:443');

      // The slice changes: one endpoint goes, another comes; a second slice adds one more.
      api.update('endpointslices', slice('web-a', 'web', ['10.1.0.2', '10.1.0.3']));
      api.create('endpointslices', slice('web-b', 'web', ['10.1.0.4']));
      await eventually(
        () => lbMaps(bpfRoot)[vip]?.join() === '10.1.0.2:8080,10.1.0.3:8080,10.1.0.4:8080',
        30_000,
      );
      const realized = await eventually(async () => {
        const r = await row();
        return r?.status?.realized?.['backend-addresses']?.length === 3 ? r : undefined;
      }, 30_000);
      expect(realized.status?.realized?.['backend-addresses']?.map((b) => b.ip).sort()).toEqual([
        '10.1.0.2',
        '10.1.0.3',
        '10.1.0.4',
      ]);

      // The REST API leaves it alone.
      const id = realized.spec?.id ?? 0;
      const del = await cellium(agent.socket, 'service', 'delete', String(id));
      expect(del.code).not.toBe(0);
      expect(del.stderr).toContain('default/web from Kubernetes');

      // The Service goes: its frontend and backends leave the maps.
      api.delete('services', { name: 'web', namespace: 'default' });
      await eventually(async () => (await row()) === undefined, 30_000);
      await eventually(() => lbMaps(bpfRoot)[vip] === undefined, 30_000);
      const left = Object.values(lbMaps(bpfRoot)).flat();
      expect(left.filter((b) => b.startsWith('10.1.0.'))).toEqual([]);
    });

    it('after a restart, a Service deleted while the agent was down leaves the maps; the others stay as they were', async () => {
      const first = await start();
      const { api, bpfRoot, dir } = first;
      const ip = (name: string) =>
        (api.get('services', { name, namespace: 'default' }) as { spec: { clusterIP: string } })
          .spec.clusterIP;
      api.create('services', service('keep'));
      api.create('services', service('gone'));
      api.create('endpointslices', slice('keep-a', 'keep', ['10.1.1.1']));
      api.create('endpointslices', slice('gone-a', 'gone', ['10.1.1.2']));
      const keep = `${ip('keep')}:80`;
      const gone = `${ip('gone')}:80`;
      await eventually(
        () => lbMaps(bpfRoot)[keep]?.length === 1 && lbMaps(bpfRoot)[gone]?.length === 1,
        30_000,
      );
      const revNat = () =>
        JSON.stringify(
          (
            JSON.parse(
              sh('bpftool', [
                '-j',
                'map',
                'dump',
                'pinned',
                `${bpfRoot}/tc/globals/cellium_lb4_reverse_nat`,
              ]),
            ) as Row[]
          )
            .map((r) => `${bytes(r.key).readUInt16LE(0)}=${bytes(r.value).toString('hex')}`)
            .sort(),
        );
      const idsBefore = revNat();
      await first.agent.kill('SIGKILL');

      api.delete('services', { name: 'gone', namespace: 'default' });
      api.delete('endpointslices', { name: 'gone-a', namespace: 'default' });
      // The datapath keeps serving both while the agent is away.
      expect(lbMaps(bpfRoot)[gone]).toEqual(['10.1.1.2:8080']);
      const second = await start({ api, bpfRoot, dir });
      await eventually(() => lbMaps(bpfRoot)[gone] === undefined, 30_000);
      expect(lbMaps(bpfRoot)[keep]).toEqual(['10.1.1.1:8080']);
      // The kept service has its id (its reverse NAT entry) of before; the gone one's is gone.
      const idsAfter = JSON.parse(revNat()) as string[];
      expect((JSON.parse(idsBefore) as string[]).filter((x) => idsAfter.includes(x)).length).toBe(
        idsAfter.length,
      );
      expect(idsAfter.length).toBe((JSON.parse(idsBefore) as string[]).length - 1);
      await second.agent.kill('SIGTERM');
    });
  });
});
