import { ApiRegistry } from '../../core/api/index.js';
import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  provide,
  token,
} from '../../core/hive/index.js';
import { apiFlags, ApiConfig } from './config.js';
import { ApiServer, newApiServer } from './server.js';

/** Where cells register their routes: `routes.handle('GetHealthz', handler)`. */
export const ApiRoutes = token<ApiRegistry>('api/ApiRoutes');

/** The REST API v1 on a unix socket; every other cell adds its routes through ApiRoutes. */
export const apiCell = module(
  'api',
  'REST API v1 on a unix socket',
  // --socket-path, --api-socket-group, --api-body-limit
  config(ApiConfig, apiFlags),
  // The route registry; operations nobody registers answer 501.
  provide(ApiRoutes, {}, () => new ApiRegistry()),
  // The hono app and its unix-socket listener (a start/stop hook).
  provide(
    ApiServer,
    { config: ApiConfig, routes: ApiRoutes, lifecycle: Lifecycle, health: Health, logger: Logger },
    newApiServer,
  ),
  invoke('serve', { server: ApiServer }, () => undefined),
);
