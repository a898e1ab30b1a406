import { ApiError } from '../../core/api/index.js';
import { parseIp } from '../../core/ip.js';
import type { ReadTxn, Table } from '../../core/statedb/index.js';
import type { Ipam } from '../ipam/index.js';
import {
  ENDPOINT_OPTIONS,
  formatOption,
  lookupOption,
  OptionError,
  parseOptions,
} from '../../core/hive/options.js';
import { endpointIps, endpointOptionValue, owner, type Endpoint } from './model.js';
import { checkPoolAddress } from './validate.js';

/** Runs undo steps, the last first. */
export function undoAll(undo: readonly (() => void)[]): void {
  for (const u of [...undo].reverse()) u();
}

/** Refuses (409) what another endpoint already has: its IPs, attachment or host interface. */
export function conflicts(table: Table<Endpoint>, r: ReadTxn, ep: Endpoint): void {
  for (const ip of endpointIps(ep)) {
    const other = table.getBy(r, 'ip', ip);
    if (other && other.id !== ep.id) {
      throw new ApiError(409, `${ip} is already used by endpoint ${other.id}`);
    }
  }
  const attach = ep.cniAttachmentId && table.getBy(r, 'cni-attachment-id', ep.cniAttachmentId);
  if (attach && attach.id !== ep.id) {
    throw new ApiError(
      409,
      `an endpoint for container ${ep.containerId} (${ep.cniAttachmentId}) already exists`,
    );
  }
  const iface = ep.ifName && table.getBy(r, 'interface', ep.ifName);
  if (iface && iface.id !== ep.id) {
    throw new ApiError(409, `interface-name: ${ep.ifName} is already used by endpoint ${iface.id}`);
  }
}

/**
 * Claims an endpoint's new IPs from IPAM (refusing reserved or foreign ones) and returns the
 * undo of each claim; on failure the claims made so far are undone. An address of an enabled
 * pod CIDR always comes from IPAM, even with `external-ipam`.
 */
export function claimIps(ipam: Ipam, ep: Endpoint, ips: readonly string[]): (() => void)[] {
  const undo: (() => void)[] = [];
  try {
    for (const ip of ips) {
      const family = parseIp(ip)?.family ?? 'ip';
      const pool = family === 'ip' ? undefined : ipam.pools.get(family);
      if (ep.externalIpam) {
        if (pool?.contains(ip)) {
          throw new ApiError(
            400,
            `addressing.${family}: ${ip} is in this node's pod CIDR ${pool.cidr}: it comes from IPAM, not external-ipam`,
          );
        }
        continue;
      }
      checkPoolAddress(ipam, ip, `addressing.${family}`);
      undo.push(ipam.claim(ip, owner(ep)));
    }
  } catch (e) {
    undoAll(undo);
    throw e;
  }
  return undo;
}

/**
 * Parses endpoint options a client sets (PATCH .../config) with Cilium's endpoint option
 * library: names in any case, Cilium's values; a 400 names an unknown or read-only option or a
 * bad value. Returns the changes by canonical name, formatted as they are stored.
 */
export function checkOptions(
  ep: Pick<Endpoint, 'options'>,
  options: Readonly<Record<string, string>>,
): Map<string, string> {
  try {
    const parsed = parseOptions(ENDPOINT_OPTIONS, options, (o) => endpointOptionValue(ep, o));
    const out = new Map<string, string>();
    for (const [name, v] of parsed) {
      const opt = lookupOption(ENDPOINT_OPTIONS, name);
      if (opt && opt.readOnly === undefined) out.set(name, formatOption(opt, v));
    }
    return out;
  } catch (e) {
    if (e instanceof OptionError) throw new ApiError(400, `options: ${e.message}`);
    throw e;
  }
}
