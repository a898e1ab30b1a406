import { existsSync } from 'node:fs';
import {
  ifIndex,
  loadObject,
  tcAttach,
  tcDetach,
  tcQuery,
  type BpfObject,
} from '../../core/bpf/index.js';
import type { Operations } from '../../core/reconciler/index.js';
import { endpointKeyOf, type DatapathMaps } from '../maps/index.js';
import { endpointIps, type Endpoint } from './model.js';

/** The lxc entries and tc programs of endpoints: what regeneration writes. */
export function endpointOps(
  maps: DatapathMaps,
  objectPath: string,
): Operations<Endpoint> & { close(): void } {
  let obj: BpfObject | undefined;
  const programs = (): { from: number; to: number } | undefined => {
    if (maps.backend !== 'kernel' || !existsSync(objectPath)) return undefined;
    obj ??= loadObject(objectPath, [maps.lxc.raw, maps.ipcache.raw, maps.metrics.raw]);
    return { from: obj.program('cil_from_container'), to: obj.program('cil_to_container') };
  };
  return {
    update: (_, ep) => {
      for (const ip of endpointIps(ep)) {
        maps.lxc.update(endpointKeyOf(ip), {
          ifindex: ep.ifIndex,
          lxc_id: ep.id,
          flags: 0,
          mac: ep.mac || '00:00:00:00:00:00',
          node_mac: ep.hostMac || '00:00:00:00:00:00',
          sec_id: ep.identity,
        });
      }
      const progs = programs();
      if (!progs || ep.ifName === '') return;
      const idx = ifIndex(ep.ifName);
      if (idx === 0) throw new Error(`interface ${ep.ifName} of endpoint ${ep.id} does not exist`);
      // Attach only where missing: an attached program keeps forwarding across agent restarts.
      if (tcQuery(idx, 'ingress') === undefined) tcAttach(idx, 'ingress', progs.from);
      if (tcQuery(idx, 'egress') === undefined) tcAttach(idx, 'egress', progs.to);
    },
    delete: (_, ep) => {
      for (const ip of endpointIps(ep)) maps.lxc.delete(endpointKeyOf(ip));
      if (maps.backend !== 'kernel' || ep.ifName === '') return;
      const idx = ifIndex(ep.ifName);
      if (idx === 0) return;
      tcDetach(idx, 'ingress');
      tcDetach(idx, 'egress');
    },
    prune: (_, desired) => {
      const want = new Set<string>();
      for (const ep of desired) for (const ip of endpointIps(ep)) want.add(ip);
      const stale = [...maps.lxc.keys()].filter((k) => !want.has(k.ip));
      for (const k of stale) maps.lxc.delete(k);
    },
    close: () => {
      obj?.close();
      obj = undefined;
    },
  };
}
