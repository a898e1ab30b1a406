import { invoke, module, optional, provide } from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { StatusContributors } from '../daemon/index.js';
import { Metrics } from '../metrics/index.js';
import { IdentityAllocator, LocalIdentityAllocator } from './allocator.js';
import { getIdentity, identityEndpoints, listIdentities } from './api.js';
import { registerIdentityMetrics } from './metrics.js';

/** Security identities from label sets: reserved ones, local allocation, reference counts. */
export const identityCell = module(
  'identity',
  'Security identities from label sets',
  // The embedded-mode allocator; the kvstore mode will provide one backed by etcd.
  provide(IdentityAllocator, {}, () => new LocalIdentityAllocator()),
  invoke('routes', { routes: ApiRoutes, ids: IdentityAllocator }, ({ routes, ids }) => {
    routes.handle(
      'GetIdentity',
      (req) => ({ status: 200, body: listIdentities(ids, req.body) }),
      'identity',
    );
    routes.handle(
      'GetIdentityID',
      (req) => ({ status: 200, body: getIdentity(ids, req.params.id) }),
      'identity',
    );
    routes.handle(
      'GetIdentityEndpoints',
      () => ({ status: 200, body: identityEndpoints(ids) }),
      'identity',
    );
  }),
  // cellium_identity{type}, counted when scraped.
  invoke(
    'metrics',
    { metrics: optional(Metrics), ids: IdentityAllocator },
    registerIdentityMetrics,
  ),
  // /healthz identity-range: the ids the allocator hands out.
  invoke('status', { status: StatusContributors, ids: IdentityAllocator }, ({ status, ids }) => {
    status.add({
      status: (s) => {
        s['identity-range'] = { 'min-identity': ids.range.min, 'max-identity': ids.range.max };
      },
    });
  }),
);
