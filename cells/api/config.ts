import { defaultSocketPath } from '../../core/api/index.js';
import { flag, token, type ConfigOf } from '../../core/hive/index.js';

/** The API cell's flags. */
export const apiFlags = {
  'socket-path': flag.string(defaultSocketPath(), 'Unix socket the REST API is served on'),
  'api-socket-group': flag.string(
    '',
    'Group (name or gid) that owns the API socket, so its members can use it; empty keeps root',
  ),
  'api-body-limit': flag.int(1 << 20, 'Largest request body accepted by the API, in bytes', {
    min: 1024,
  }),
} as const;

/** The API cell's configuration. */
export type ApiConfig = ConfigOf<typeof apiFlags>;

/** The API cell's configuration. */
export const ApiConfig = token<ApiConfig>('api/ApiConfig');
