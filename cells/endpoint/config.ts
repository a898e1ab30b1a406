import { flag, token, type ConfigOf } from '../../core/hive/index.js';
import { findUp } from '../../core/paths.js';

/** The endpoint cell's flags. */
export const endpointFlags = {
  'bpf-lxc-object': flag.string(
    findUp('datapath-c/build/bpf_lxc.o') ?? '',
    'The compiled bpf_lxc object attached to each endpoint (built by npm run build)',
  ),
  'endpoint-sync-timeout': flag.duration('30s', 'How long a synchronous endpoint build may take', {
    min: '1ms',
  }),
} as const;

/** The endpoint cell's configuration. */
export type EndpointConfig = ConfigOf<typeof endpointFlags>;

/** The endpoint cell's configuration. */
export const EndpointConfig = token<EndpointConfig>('endpoint/EndpointConfig');
