// The agent killed with SIGKILL while a long TCP stream runs through a ClusterIP: the datapath
// keeps the stream going while no agent runs, and the agent that starts again restores the same
// service and backend ids and writes nothing (the maps' contents, Maglev tables included, are the
// same, read from the kernel). Root only (core/testing/kernel.ts).
import { expect, it } from 'vitest';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { LB4, LB6 } from '../cells/loadbalancer/maps.js';
import { sh } from './support/netns.js';
import type { Model } from '../core/api/index.js';
import { celliumJson } from './support/cli.js';
import { restored } from './support/procs.js';
import { tcpClient } from './support/socket-lb.js';
import {
  ECHO_TCP,
  ECHO_UDP,
  echoPods,
  serviceNode,
  serviceUpdate,
  stream,
  streamServers,
  type ServiceNode,
} from './support/services.js';

type Service = Model<'Service'>;

/**
 * Every entry of the node's LB maps (IPv4 and IPv6) as the kernel has them, raw bytes read by
 * bpftool (read only: nothing of ours opens the pins); Maglev outer maps hold their inner maps' ids.
 */
function dumpLb(n: ServiceNode): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const spec of [LB4, LB6].flatMap((f) => Object.values(f) as { name: string }[])) {
    const path = `${n.bpfRoot}/tc/globals/${spec.name}`;
    const rows = JSON.parse(sh('bpftool', ['-j', 'map', 'dump', 'pinned', path])) as unknown[];
    out[spec.name] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

kernelSuite(
  'services across an agent killed with SIGKILL',
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'nsenter', 'bpftool'] },
  () => {
    it('a stream through a ClusterIP survives kill -9; ids and map contents come back the same, with no map write', async () => {
      const n = await serviceNode({ pods: 4 });
      const port = 9000;
      await streamServers(n, [1, 2, 3], port);
      await echoPods(n, [1, 2, 3]);
      const at = (pods: number[], p: number) => pods.map((i) => `${n.ips[i] ?? ''}:${p}`).join(',');
      await serviceUpdate(
        n,
        '--id=1',
        '--frontend=10.96.60.1:80',
        `--backends=${at([1, 2, 3], port)}`,
      );
      await serviceUpdate(
        n,
        '--id=2',
        '--frontend=10.96.60.1:53',
        '--protocol=udp',
        `--backends=${at([1, 2, 3], ECHO_UDP)}`,
        '--lb-algorithm=maglev',
      );
      await serviceUpdate(
        n,
        '--id=3',
        '--frontend=10.96.60.2:80',
        `--backends=${at([2, 3], ECHO_TCP)}`,
        '--states=active,terminating',
        '--session-affinity-timeout=60',
      );
      const services = () => celliumJson<Service[]>(n.agent.socket, 'service', 'list');
      // The services once the reconciler has been over them (a restarted agent's first round).
      const realizedServices = async (): Promise<Service[]> => {
        for (let i = 0; ; i++) {
          const list = await services();
          if (list.every((x) => x.status?.realized?.['backend-addresses'] !== undefined) || i > 200)
            return list;
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const before = { services: await realizedServices(), maps: dumpLb(n) };
      // The dump holds what the test wrote: a Maglev table, affinity, both backends' states.
      expect(before.maps.cellium_lb4_maglev).toHaveLength(1);
      expect(before.maps.cellium_lb4_backends_v3).toHaveLength(8);

      const s = stream(n.pods[0] ?? '', '10.96.60.1', 80);
      await s.started;
      await s.waitFor(5);
      expect(await n.agent.kill('SIGKILL')).toBe(null);
      // No agent: the datapath alone carries the stream.
      await s.waitFor(10);
      await n.restart('SIGKILL');
      await restored(n.agent.socket);
      await s.waitFor(10);
      expect(s.ended()).toBeUndefined();

      expect(await realizedServices()).toEqual(before.services);
      expect(dumpLb(n)).toEqual(before.maps);
      const debug = await celliumJson<{ subsystem: Record<string, string> }>(
        n.agent.socket,
        'debuginfo',
      );
      expect(debug.subsystem.loadbalancer).toContain('3 services');
      expect(debug.subsystem.loadbalancer).toContain('0 map writes since start; 0 failing');
      // The agent still serves changes after its restore: a new backend is used.
      await serviceUpdate(
        n,
        '--id=3',
        '--frontend=10.96.60.2:80',
        `--backends=${at([2], ECHO_TCP)}`,
      );
      const after = await tcpClient(
        { ns: n.pods[0] ?? '' },
        { host: '10.96.60.2', port: 80, times: 10 },
      );
      expect(new Set(after.map((r) => r.data ?? r.error))).toEqual(new Set(['pod2']));
    });
  },
);
