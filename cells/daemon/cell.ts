import {
  config,
  HealthTree,
  HiveConfig,
  HiveInfo,
  invoke,
  module,
  provide,
  providePrivate,
  token,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { daemonFlags, DaemonConfig } from './config.js';
import { daemonConfiguration, debugInfo, patchConfig, statusResponse } from './handlers.js';
import { StatusContributors, StatusRegistry } from './status.js';

const Registry = token<StatusRegistry>('daemon/StatusRegistry');

/** The daemon's own API: health, configuration, debug info; agent-wide settings. */
export const daemonCell = module(
  'daemon',
  'Agent status, configuration and debug info',
  // --node-name, --cluster-name, --state-dir, --mtu, --policy-enforcement
  config(DaemonConfig, daemonFlags),
  // Other cells add their parts of /healthz, /config and /debuginfo here.
  providePrivate(Registry, {}, () => new StatusRegistry()),
  provide(StatusContributors, { r: Registry }, ({ r }) => r),
  invoke(
    'routes',
    {
      routes: ApiRoutes,
      config: DaemonConfig,
      flags: HiveConfig,
      health: HealthTree,
      hive: HiveInfo,
      contributions: Registry,
    },
    ({ routes, ...p }) => {
      routes.handle(
        'GetHealthz',
        (req) => ({
          status: 200,
          body: statusResponse(p, req.headers.brief === true),
        }),
        'daemon',
      );
      routes.handle('GetConfig', () => ({ status: 200, body: daemonConfiguration(p) }), 'daemon');
      routes.handle(
        'PatchConfig',
        (req) => {
          patchConfig(p, req.body);
          return { status: 200 };
        },
        'daemon',
      );
      routes.handle('GetDebuginfo', () => ({ status: 200, body: debugInfo(p) }), 'daemon');
    },
  ),
);
