import { module } from '../core/hive/index.js';
import { apiCell } from './api/index.js';
import { daemonCell } from './daemon/index.js';

/** Outward-facing services; replaced by doubles in control-plane tests. */
export const infrastructure = module(
  'infra',
  'Outward-facing services: the REST API on a unix socket',
  apiCell,
);

/** Desired state: cells that need no privileges. */
export const controlPlane = module(
  'controlplane',
  'Desired state: status, configuration and the cells that need no privileges',
  daemonCell,
);

/** The whole agent: every module on one screen. */
export const agent = module('agent', 'Cellium agent', infrastructure, controlPlane);
