// Shared by the loadbalancer cell's tests: a hive of the cell and what it needs (API, statedb,
// daemon, maps, conntrack) on the in-memory maps, with its own socket, state dir and bpf root.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawMap } from '../../core/bpf/index.js';
import { provide } from '../../core/hive/index.js';
import type { ProvideCell } from '../../core/hive/cell.js';
import type { LinkInfo } from '../../core/net/index.js';
import { testHive } from '../../core/testing/test-hive.js';
import { apiCell } from '../api/index.js';
import { conntrackCell } from '../conntrack/index.js';
import { daemonCell } from '../daemon/index.js';
import { mapsCell } from '../maps/index.js';
import { statedbCell } from '../statedb/index.js';
import { LbLinks, LbMapWrap, loadbalancerCell } from './index.js';

/** What a loadbalancer test hive is built with. */
export interface LbHiveOpts {
  /** Where the socket, state and pins go (a new temporary directory by default). */
  readonly dir?: string;
  readonly flags?: Record<string, unknown>;
  /** Wraps every LB map (a FaultyMap, a counting map). */
  readonly wrap?: (raw: RawMap) => RawMap;
  /** The host's devices as the cell sees them. */
  readonly links?: readonly LinkInfo[];
  /** More providers replaced by token (the Kubernetes tests' reflected resources). */
  readonly overrides?: readonly ProvideCell[];
}

/** The loadbalancer cell on memory maps (not started), with the directory it uses. */
export function lbHive(o: LbHiveOpts = {}, prefix = 'cellium-lb-') {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), prefix));
  const h = testHive(
    [apiCell, statedbCell, daemonCell, mapsCell, conntrackCell, loadbalancerCell],
    {
      flags: {
        'socket-path': join(dir, `api-${randomBytes(4).toString('hex')}.sock`),
        'state-dir': join(dir, 'state'),
        'bpf-backend': 'memory',
        'bpf-root': join(dir, 'bpf'),
        'node-name': 'node-a',
        ...o.flags,
      },
      overrides: [
        ...(o.wrap ? [provide(LbMapWrap, {}, () => o.wrap ?? ((r: RawMap) => r))] : []),
        provide(LbLinks, {}, () => () => o.links ?? []),
        ...(o.overrides ?? []),
      ],
    },
  );
  return Object.assign(h, { dir });
}
