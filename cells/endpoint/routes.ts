import {
  ApiError,
  shown,
  type ApiHandler,
  type ApiRegistry,
  type OperationId,
} from '../../core/api/index.js';
import type { IdentityAllocator } from '../identity/index.js';
import type { Ipam } from '../ipam/index.js';
import { endpointHealth, endpointModel, filterEndpoints } from './api.js';
import { parseEndpointRef } from './ids.js';
import type { EndpointManager } from './manager.js';
import { endpointOptions } from './model.js';
import type { EndpointPolicyStatus } from './policy-status.js';

/** What the endpoint routes use. */
export interface RouteDeps {
  readonly routes: ApiRegistry;
  readonly m: EndpointManager;
  readonly ids: IdentityAllocator;
  readonly ipam: Ipam;
  readonly policy: EndpointPolicyStatus;
}

/** Registers Cilium's endpoint API. */
export function registerEndpointRoutes({ routes, m, ids, ipam, policy }: RouteDeps): void {
  const model = (ep: Parameters<typeof endpointModel>[0]) => endpointModel(ep, ids, ipam, policy);
  const get = (raw: string) => {
    const ref = parseEndpointRef(raw);
    const ep = m.find(ref);
    if (!ep) throw new ApiError(404, `endpoint ${shown(raw)} not found`);
    return ep;
  };
  function h<K extends OperationId>(op: K, fn: NoInfer<ApiHandler<K>>): void {
    routes.handle(op, fn, 'endpoint');
  }

  h('GetEndpoint', (req) => ({
    status: 200,
    body: filterEndpoints(m.list(), req.body).map(model),
  }));
  h('GetEndpointID', (req) => ({ status: 200, body: model(get(req.params.id)) }));
  h('PutEndpointID', async (req) => ({
    status: 201,
    body: model(await m.create(parseEndpointRef(req.params.id), req.body)),
  }));
  h('PatchEndpointID', async (req) => {
    await m.update(parseEndpointRef(req.params.id), req.body);
    return { status: 200 };
  });
  h('DeleteEndpointID', async (req) => {
    const errors = await m.delete(parseEndpointRef(req.params.id));
    return errors > 0 ? { status: 206, body: errors } : { status: 200 };
  });
  h('DeleteEndpoint', async (req) => {
    const cid = req.body['container-id'];
    if (!cid) throw new ApiError(400, 'body.container-id is required');
    const { deleted, errors } = await m.deleteContainer(cid);
    if (deleted === 0) throw new ApiError(404, `no endpoint for container-id ${shown(cid)}`);
    return errors > 0 ? { status: 206, body: errors } : { status: 200 };
  });
  h('GetEndpointIDConfig', (req) => {
    const ep = get(req.params.id);
    const opts = endpointOptions(ep);
    return {
      status: 200,
      body: {
        realized: {
          options: opts.options,
          'label-configuration': { user: [...ep.userLabels] },
        },
        immutable: {
          ...opts.immutable,
          'interface-name': ep.ifName,
          'container-id': ep.containerId,
        },
      },
    };
  });
  h('PatchEndpointIDConfig', async (req) => {
    if (req.body['label-configuration'] !== undefined) {
      throw new ApiError(
        400,
        'label-configuration: change the labels with PATCH /v1/endpoint/{id}/labels (cellium endpoint labels)',
      );
    }
    await m.configure(parseEndpointRef(req.params.id), req.body.options);
    return { status: 200 };
  });
  h('GetEndpointIDLabels', (req) => {
    const ep = model(get(req.params.id));
    return {
      status: 200,
      body: {
        spec: { user: ep.spec?.['label-configuration']?.user ?? [] },
        status: ep.status?.labels ?? {},
      },
    };
  });
  h('PatchEndpointIDLabels', async (req) => {
    await m.setUserLabels(parseEndpointRef(req.params.id), req.body.user ?? []);
    return { status: 200 };
  });
  h('GetEndpointIDLog', (req) => ({
    status: 200,
    body: get(req.params.id).log.map((l) => ({ ...l })),
  }));
  h('GetEndpointIDHealthz', (req) => ({
    status: 200,
    body: endpointHealth(get(req.params.id), policy),
  }));
}
