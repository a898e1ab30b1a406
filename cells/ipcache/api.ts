import { ApiError, type Model } from '../../core/api/index.js';
import type { ReadTxn, Table } from '../../core/statedb/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import { matchesLabels } from '../identity/index.js';
import { normalizePrefix, within, type IpcacheEntry } from './table.js';

/** GET /v1/ip: ipcache entries, optionally within a CIDR and with identities carrying labels. */
export function listIps(
  txn: ReadTxn,
  table: Table<IpcacheEntry>,
  ids: IdentityAllocator,
  cidr: string | undefined,
  labels: readonly string[] | undefined,
): Model<'IPListEntry'>[] {
  const outer = cidr === undefined ? undefined : normalizePrefix(cidr);
  if (cidr !== undefined && outer === undefined) throw new ApiError(400, `'${cidr}' is not a CIDR`);
  const out: Model<'IPListEntry'>[] = [];
  for (const e of table.all(txn)) {
    if (outer && !within(e.prefix, outer)) continue;
    if (labels && labels.length > 0 && !matchesLabels(ids.get(e.identity)?.labels ?? [], labels))
      continue;
    out.push({
      cidr: e.prefix,
      identity: e.identity,
      ...(e.hostIP !== '' ? { hostIP: e.hostIP } : {}),
      encryptKey: e.encryptKey,
      metadata: {
        source: e.source,
        ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
        ...(e.name !== undefined ? { name: e.name } : {}),
      },
    });
  }
  if (out.length === 0 && (cidr !== undefined || (labels?.length ?? 0) > 0)) {
    throw new ApiError(
      404,
      `no ipcache entries${cidr ? ` within ${cidr}` : ''}${labels?.length ? ` with labels ${labels.join(',')}` : ''}`,
    );
  }
  return out;
}
