import { formatIp, parseIp } from '../../core/ip.js';
import type { Status } from '../../core/reconciler/index.js';
import { token } from '../../core/hive/index.js';
import type { DB, Table } from '../../core/statedb/index.js';

/** Where an ipcache entry came from (Cilium's sources). */
export type IpcacheSource =
  | 'local'
  | 'k8s'
  | 'kvstore'
  | 'custom-resource'
  | 'generated'
  // Other nodes' addresses and pod CIDRs from --nodes-file (the node list's own source name).
  | 'static';

/** One prefix → identity mapping, desired in the datapath. */
export interface IpcacheEntry {
  /** Normalized CIDR (`10.0.0.5/32`). */
  readonly prefix: string;
  readonly identity: number;
  /** The node the prefix lives on (empty when local). */
  readonly hostIP: string;
  readonly encryptKey: number;
  readonly source: IpcacheSource;
  readonly namespace?: string;
  readonly name?: string;
  readonly status: Status;
}

/** The ipcache table (read it; write through IpcacheWriter). */
export const IpcacheTable = token<Table<IpcacheEntry>>('ipcache/IpcacheTable');

/** Normalizes an IP or CIDR to `network/len`; undefined when it is neither. */
export function normalizePrefix(cidr: string): string | undefined {
  const [ip = '', len] = cidr.split('/');
  const p = parseIp(ip);
  if (!p) return undefined;
  const bits = p.family === 'ipv4' ? 32 : 128;
  const n = len === undefined ? bits : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > bits || (len !== undefined && !/^\d+$/.test(len)))
    return undefined;
  const host = BigInt(bits - n);
  return `${formatIp(p.family, (p.value >> host) << host)}/${n}`;
}

/** Whether prefix `inner` lies within prefix `outer` (both normalized). */
export function within(inner: string, outer: string): boolean {
  const [ia = '', il = '0'] = inner.split('/');
  const [oa = '', ol = '0'] = outer.split('/');
  const i = parseIp(ia);
  const o = parseIp(oa);
  if (!i || !o || i.family !== o.family || Number(il) < Number(ol)) return false;
  const host = BigInt((i.family === 'ipv4' ? 32 : 128) - Number(ol));
  return i.value >> host === o.value >> host;
}

/** Creates the ipcache table. */
export function newIpcacheTable(db: DB): Table<IpcacheEntry> {
  return db.newTable<IpcacheEntry>({
    name: 'ipcache',
    primaryKey: (e) => e.prefix,
    indexes: [{ name: 'identity', key: (e) => String(e.identity), unique: false }],
  });
}
