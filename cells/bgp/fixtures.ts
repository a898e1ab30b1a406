// Shared by the bgp cell's tests: a hive of the cell with what it needs (API, statedb, daemon,
// IPAM, the loadbalancer on memory maps), the node's addresses given, and a speaker double
// (or the real speaker), each hive with its own directory.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { provide, type HealthStatus } from '../../core/hive/index.js';
import type { ProvideCell } from '../../core/hive/cell.js';
import { HealthTree } from '../../core/hive/index.js';
import { apiCell, ApiServer } from '../api/index.js';
import { conntrackCell } from '../conntrack/index.js';
import { daemonCell } from '../daemon/index.js';
import { ipamCell } from '../ipam/index.js';
import { LbLinks, LbWriter, loadbalancerCell, type Service } from '../loadbalancer/index.js';
import { mapsCell } from '../maps/index.js';
import { metricsCell } from '../metrics/index.js';
import { NodeIds } from '../node/index.js';
import { statedbCell } from '../statedb/index.js';
import { apiRequest, type ApiTestReply } from '../../core/testing/api.js';
import { testHive } from '../../core/testing/test-hive.js';
import { bgpCell, BgpSpeakerFactory } from './cell.js';
import type { SpeakerFactory } from './control-plane.js';

/** A Service row `default/<name>` as the Kubernetes reflector writes it, with `o` laid over. */
export function k8sService(name: string, o: Partial<Service> = {}): Service {
  return {
    key: `default/${name}`,
    namespace: 'default',
    name,
    cluster: '',
    source: 'k8s',
    extTrafficPolicy: 'Cluster',
    intTrafficPolicy: 'Cluster',
    natPolicy: '',
    healthCheckNodePort: 0,
    sessionAffinity: false,
    sessionAffinityTimeoutSec: 10800,
    sourceRanges: [],
    algorithm: undefined,
    ...o,
  };
}

/** A temporary directory removed when the test finishes. */
export function testDir(prefix = 'cellium-bgp-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What a bgp test hive is built with. */
export interface BgpHiveOpts {
  readonly dir: string;
  readonly factory: SpeakerFactory;
  readonly flags?: Record<string, unknown>;
  readonly nodeIps?: readonly string[];
  /** More providers replaced by token (Kubernetes resources). */
  readonly overrides?: readonly ProvideCell[];
}

/** The bgp cell and its dependencies (not started). */
export function bgpHive(o: BgpHiveOpts) {
  const socket = join(o.dir, `api-${randomBytes(4).toString('hex')}.sock`);
  const h = testHive(
    [
      apiCell,
      statedbCell,
      metricsCell,
      daemonCell,
      mapsCell,
      conntrackCell,
      loadbalancerCell,
      ipamCell,
      bgpCell,
    ],
    {
      flags: {
        'socket-path': socket,
        'state-dir': join(o.dir, 'state'),
        'bpf-backend': 'memory',
        'bpf-root': join(o.dir, 'bpf'),
        'node-name': 'node-a',
        'ipv4-range': '10.1.0.0/24',
        'enable-ipv6': true,
        'ipv6-range': 'fd00:1::/112',
        'enable-bgp-control-plane': true,
        'bgp-config': join(o.dir, 'bgp.yaml'),
        'bgp-listen-port': 0,
        ...o.flags,
      },
      overrides: [
        provide(LbLinks, {}, () => () => []),
        provide(
          NodeIds,
          {},
          () => ({ localIps: o.nodeIps ?? ['192.0.2.1', '2001:db8::1'] }) as unknown as NodeIds,
        ),
        provide(BgpSpeakerFactory, {}, () => o.factory),
        ...(o.overrides ?? []),
      ],
    },
  );
  const api = (path: string): Promise<ApiTestReply> =>
    apiRequest(h.get(ApiServer).app, 'GET', path);
  /** The cell's health reports (by the id's part after `.bgp.`). */
  const health = (): Record<string, HealthStatus> => {
    const out: Record<string, HealthStatus> = {};
    for (const s of h.get(HealthTree).all()) {
      const m = /(?:^|\.)bgp\.(.+)$/.exec(s.id);
      if (m?.[1] !== undefined) out[m[1]] = s;
    }
    return out;
  };
  /** Adds (or replaces) a LoadBalancer service with one IP, a backend on `backendNode`. */
  const putLbService = (
    name: string,
    ip: string,
    labels: Record<string, string>,
    o2: Partial<Service> = {},
    backendNode = 'node-a',
  ): void => {
    const key = `default/${name}`;
    h.get(LbWriter).update((t) => {
      t.upsertService(k8sService(name, { labels, ...o2 }));
      t.upsertFrontend({
        address: { ip, port: 80, protocol: 'tcp', scope: 'external' },
        type: 'LoadBalancer',
        serviceKey: key,
        portName: '',
      });
      t.setBackends(key, '', [
        {
          ip: '10.1.0.50',
          port: 8080,
          protocol: 'tcp',
          state: 'active',
          weight: 100,
          zone: '',
          nodeName: backendNode,
        },
      ]);
    });
  };
  const deleteService = (name: string): void => {
    h.get(LbWriter).update((t) => t.deleteService(`default/${name}`));
  };
  return Object.assign(h, { socket, api, health, putLbService, deleteService });
}

/** A policy file's text: one policy, one router (ASN 65001), the given neighbors. */
export function policyText(
  router: Record<string, unknown>,
  neighbors: readonly Record<string, unknown>[],
): string {
  return JSON.stringify({
    apiVersion: 'cilium.io/v2alpha1',
    kind: 'CiliumBGPPeeringPolicy',
    metadata: { name: 'test' },
    spec: { virtualRouters: [{ localASN: 65001, neighbors, ...router }] },
  });
}

/** Writes the policy file as an editor does: a new file renamed over the old one. */
export function writePolicy(dir: string, text: string): void {
  const tmp = join(dir, `.bgp.yaml.${randomBytes(3).toString('hex')}`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, 'bgp.yaml'));
}
