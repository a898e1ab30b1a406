import type { BpfMap } from '../../core/bpf/index.js';
import type { Operations } from '../../core/reconciler/index.js';
import {
  ipcacheKeyOf,
  remoteEndpointInfoOf,
  type IpcacheKey,
  type RemoteEndpointInfo,
} from '../maps/index.js';
import type { IpcacheEntry } from './table.js';

function prefixOf(k: IpcacheKey): string {
  return `${k.ip}/${k.prefixlen - 32}`;
}

/** Writes the ipcache table into cellium_ipcache; prune removes prefixes nobody wants. */
export function ipcacheOps(
  map: () => BpfMap<IpcacheKey, RemoteEndpointInfo>,
): Operations<IpcacheEntry> {
  return {
    update: (_, e) => {
      map().update(ipcacheKeyOf(e.prefix), remoteEndpointInfoOf(e));
    },
    delete: (_, e) => {
      map().delete(ipcacheKeyOf(e.prefix));
    },
    prune: (_, desired) => {
      const want = new Set<string>();
      for (const e of desired) want.add(e.prefix);
      const m = map();
      const stale = [...m.keys()].filter((k) => !want.has(prefixOf(k)));
      for (const k of stale) m.delete(k);
    },
  };
}
