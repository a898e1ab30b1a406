import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  GEN_PATH,
  HEALTH_GEN_PATH,
  OPS_PATH,
  generate,
  generateOps,
} from '../../scripts/gen-api-types.js';
import { loadSpec } from './spec.js';

describe('api-spec/openapi.yaml', () => {
  it('has generated types that are current (run `npm run gen:api` after changing the spec)', async () => {
    expect(readFileSync(GEN_PATH, 'utf8')).toBe(await generate());
    expect(readFileSync(OPS_PATH, 'utf8')).toBe(generateOps());
    expect(readFileSync(HEALTH_GEN_PATH, 'utf8')).toBe(await generate('health'));
  });

  it("covers Cilium's v1 handlers, each with a unique operation id and a serving cell", () => {
    const ops = loadSpec().operations;
    const want = [
      'GetHealthz',
      'GetConfig',
      'PatchConfig',
      'GetDebuginfo',
      'GetClusterNodes',
      'GetNodeIds',
      'GetCgroupDumpMetadata',
      'GetMap',
      'GetMapName',
      'GetMapNameEvents',
      'GetEndpoint',
      'DeleteEndpoint',
      'GetEndpointID',
      'PutEndpointID',
      'PatchEndpointID',
      'DeleteEndpointID',
      'GetEndpointIDConfig',
      'PatchEndpointIDConfig',
      'GetEndpointIDLabels',
      'PatchEndpointIDLabels',
      'GetEndpointIDLog',
      'GetEndpointIDHealthz',
      'GetIdentity',
      'GetIdentityID',
      'GetIdentityEndpoints',
      'PostIpam',
      'PostIpamIP',
      'DeleteIpamIP',
      'GetPolicy',
      'PutPolicy',
      'DeletePolicy',
      'GetPolicySelectors',
      'GetFqdnCache',
      'DeleteFqdnCache',
      'GetFqdnCacheID',
      'GetFqdnNames',
      'GetIP',
      'GetService',
      'GetServiceID',
      'PutServiceID',
      'DeleteServiceID',
      'GetLrp',
      'GetPrefilter',
      'PatchPrefilter',
      'DeletePrefilter',
      'GetBgpPeers',
      'GetBgpRoutes',
      'GetBgpRoutePolicies',
    ];
    expect([...ops.keys()]).toEqual(expect.arrayContaining(want));
    for (const op of ops.values()) expect(op.cell, op.id).not.toBe('unknown');
    expect(ops.get('PutEndpointID')).toMatchObject({ method: 'PUT', path: '/endpoint/{id}' });
  });
});
