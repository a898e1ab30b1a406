// GET /v1/service, GET/PUT/DELETE /v1/service/{id}: Cilium's service operations over the
// ServiceManager (201 for a service created, 200 for one replaced or deleted).
import type { ApiRegistry } from '../../core/api/index.js';
import type { ServiceManager } from './services.js';

/** Registers the service operations. */
export function registerServiceRoutes(routes: ApiRegistry, services: ServiceManager): void {
  routes.handle('GetService', () => ({ status: 200, body: services.list() }), 'loadbalancer');
  routes.handle(
    'GetServiceID',
    (req) => ({ status: 200, body: services.get(req.params.id) }),
    'loadbalancer',
  );
  routes.handle(
    'PutServiceID',
    async (req) =>
      (await services.put(req.params.id, req.body)) ? { status: 201 } : { status: 200 },
    'loadbalancer',
  );
  routes.handle(
    'DeleteServiceID',
    async (req) => {
      await services.delete(req.params.id);
      return { status: 200 };
    },
    'loadbalancer',
  );
}
