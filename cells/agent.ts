import { module } from '../core/hive/index.js';
import { apiCell } from './api/index.js';
import { bgpCell } from './bgp/index.js';
import { cgroupCell } from './cgroup/index.js';
import { conntrackCell } from './conntrack/index.js';
import { agentHealthCell, daemonCell } from './daemon/index.js';
import { endpointCell } from './endpoint/index.js';
import { healthCell } from './health/index.js';
import { identityCell } from './identity/index.js';
import { ipcacheCell } from './ipcache/index.js';
import { ipamCell } from './ipam/index.js';
import { k8sCell } from './k8s/index.js';
import { kvstoreCell } from './kvstore/index.js';
import { loadbalancerCell } from './loadbalancer/index.js';
import { mapsCell } from './maps/index.js';
import { metricsCell } from './metrics/index.js';
import { monitorCell } from './monitor/index.js';
import { nodeCell } from './node/index.js';
import { policyCell } from './policy/index.js';
import { policyMapCell } from './policymap/index.js';
import { prefilterCell } from './prefilter/index.js';
import { routingCell } from './routing/index.js';
import { statedbCell } from './statedb/index.js';

/** Outward-facing services; replaced by doubles in control-plane tests. */
export const infrastructure = module(
  'infra',
  'Outward-facing services: the REST API, the state database, metrics, Kubernetes',
  apiCell,
  statedbCell,
  metricsCell,
  k8sCell,
);

/** Desired state: cells that need no privileges. */
export const controlPlane = module(
  'controlplane',
  'Desired state: status, configuration and the cells that need no privileges',
  daemonCell,
  agentHealthCell,
  ipamCell,
  kvstoreCell,
  identityCell,
  ipcacheCell,
  loadbalancerCell,
  bgpCell,
  endpointCell,
  policyCell,
  cgroupCell,
);

/** Kernel state: BPF maps and programs (in memory when bpf() is not usable). */
export const datapath = module(
  'datapath',
  'Kernel state: BPF maps and programs',
  mapsCell,
  conntrackCell,
  policyMapCell,
  nodeCell,
  routingCell,
  prefilterCell,
  healthCell,
  monitorCell,
);

/** The whole agent: every module on one screen. */
export const agent = module('agent', 'Cellium agent', infrastructure, controlPlane, datapath);
