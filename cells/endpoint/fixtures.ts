// Shared by the endpoint cell's tests: a hive of the endpoint cell and what it needs, on the
// in-memory maps, with a fake table of host devices.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provide } from '../../core/hive/index.js';
import type { ProvideCell } from '../../core/hive/cell.js';
import { apiRequest } from '../../core/testing/api.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell, ApiServer } from '../api/index.js';
import { conntrackCell } from '../conntrack/index.js';
import { daemonCell } from '../daemon/index.js';
import { identityCell } from '../identity/index.js';
import { ipamCell } from '../ipam/index.js';
import { ipcacheCell } from '../ipcache/index.js';
import { loadbalancerCell } from '../loadbalancer/index.js';
import { mapsCell } from '../maps/index.js';
import { policyMapCell } from '../policymap/index.js';
import { statedbCell } from '../statedb/index.js';
import { endpointCell, HostLinks } from './index.js';
import { MemoryLinks } from './links.memory.js';

const cells = [
  apiCell,
  statedbCell,
  daemonCell,
  mapsCell,
  ipamCell,
  identityCell,
  ipcacheCell,
  loadbalancerCell,
  conntrackCell,
  policyMapCell,
  endpointCell,
];

/** An endpoint hive: state in `dir` (a fresh one by default), pod CIDR 10.9.0.0/24. */
export function epHive(
  dir = mkdtempSync(join(tmpdir(), 'cellium-ep-')),
  opts: {
    readonly flags?: Record<string, unknown>;
    readonly links?: MemoryLinks;
    /** Cells beside the endpoint cell's (e.g. the policy cell). */
    readonly extra?: readonly (typeof cells)[number][];
    /** Providers replacing (or added to) the hive's, e.g. the Kubernetes cell's doubles. */
    readonly overrides?: readonly ProvideCell[];
  } = {},
) {
  const links = opts.links ?? new MemoryLinks();
  const h = testHive([...cells, ...(opts.extra ?? [])], {
    flags: {
      'socket-path': join(dir, `api-${Math.random().toString(16).slice(2)}.sock`),
      'state-dir': join(dir, 'state'),
      'bpf-backend': 'memory',
      'bpf-root': join(dir, 'bpf'),
      'ipv4-range': '10.9.0.0/24',
      ...opts.flags,
    },
    overrides: [provide(HostLinks, {}, () => links), ...(opts.overrides ?? [])],
  });
  return Object.assign(h, { dir, links });
}

/** An endpoint test hive. */
export type EpHive = ReturnType<typeof epHive>;

/** A request to the hive's API; the body parsed. */
export async function call(h: EpHive, method: string, path: string, body?: unknown) {
  const r = await apiRequest(h.get(ApiServer).app, method, path, { body });
  return { status: r.status, body: r.body as Record<string, unknown> };
}

/** A CNI-like endpoint change request for pod `n` (IP 10.9.0.<10+n>, no interface). */
export function request(n: number, extra: Record<string, unknown> = {}) {
  return {
    'container-id': `c${n}`,
    'k8s-namespace': 'default',
    'k8s-pod-name': `pod${n}`,
    mac: `02:00:00:00:00:0${n}`,
    'host-mac': '02:00:00:00:00:ff',
    addressing: { ipv4: `10.9.0.${10 + n}` },
    labels: ['k8s:app=web'],
    state: 'waiting-for-identity',
    'sync-build-endpoint': true,
    ...extra,
  };
}

export { fuzzedEndpoint, persisted, writeFuzzedStates, writeStateFile } from './state-files.js';
