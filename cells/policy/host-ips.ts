// The node's own addresses in the ipcache as the host identity (reserved:host, 1), as Cilium
// publishes them: traffic from the node to a pod then has the host's identity, which
// `fromEntities: [host]` selects and allow-localhost lets in. The addresses are read from the
// node's devices (every address but those of pods' veths) and the pod CIDRs' router addresses,
// at start and then every 30 s; an address another source already publishes keeps its entry.
import type { DB, Table } from '../../core/statedb/index.js';
import { RESERVED } from '../identity/index.js';
import type { IpcacheEntry, IpcacheWriter } from '../ipcache/index.js';

/** Publishes the node's addresses; call sync() to bring the ipcache up to date. */
export function newHostIps(p: {
  readonly db: DB;
  readonly ipcache: IpcacheWriter;
  readonly ipcacheTable: Table<IpcacheEntry>;
  /** The node's devices (the endpoint cell's HostLinks). */
  readonly links: () => Iterable<{
    readonly name: string;
    readonly addresses: readonly { readonly address: string }[];
  }>;
  readonly routers: () => readonly string[];
}): { sync(): void; published(): ReadonlySet<string> } {
  let mine = new Set<string>();
  return {
    sync: () => {
      const want = new Set<string>();
      for (const l of p.links()) {
        if (l.name.startsWith('lxc')) continue;
        for (const a of l.addresses) {
          const v6 = a.address.includes(':');
          if (v6 && a.address.toLowerCase().startsWith('fe80')) continue;
          want.add(`${a.address}/${v6 ? 128 : 32}`);
        }
      }
      for (const r of p.routers()) if (r !== '') want.add(`${r}/${r.includes(':') ? 128 : 32}`);
      const txn = p.db.readTxn();
      const rows = [...want]
        .filter((prefix) => {
          const have = p.ipcacheTable.get(txn, prefix);
          return !have || mine.has(prefix);
        })
        .map((prefix) => ({ prefix, identity: RESERVED.host, source: 'local' as const }));
      if (rows.length > 0) p.ipcache.upsertAll(rows);
      for (const prefix of mine) {
        if (want.has(prefix)) continue;
        if (p.ipcacheTable.get(txn, prefix)?.identity === RESERVED.host) p.ipcache.delete(prefix);
      }
      mine = new Set(rows.map((r) => r.prefix));
    },
    published: () => mine,
  };
}
