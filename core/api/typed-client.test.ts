import { describe, expect, it } from 'vitest';
import { OPERATIONS } from './ops.gen.js';
import { loadSpec } from './spec.js';
import { requestOf } from './typed-client.js';

describe('the typed client', () => {
  it('has one route per operation of the spec', () => {
    const ops = loadSpec().operations;
    expect(Object.keys(OPERATIONS).sort()).toEqual([...ops.keys()].sort());
  });

  it('puts parameters where the spec says: path (escaped), query, headers', () => {
    expect(requestOf('GetHealthz', { headers: { brief: true } })).toEqual({
      method: 'GET',
      path: '/healthz',
      headers: { brief: 'true' },
      body: undefined,
    });
    expect(requestOf('GetEndpointID', { params: { id: 'pod-name:default/web 1' } }).path).toBe(
      '/endpoint/pod-name%3Adefault%2Fweb%201',
    );
    expect(
      requestOf('GetMapNameEvents', { params: { name: 'x' }, query: { follow: true } }).path,
    ).toBe('/map/x/events?follow=true');
    const ipam = requestOf('PostIpam', {
      query: { owner: 'ns/pod', family: 'ipv4' },
      headers: { expiration: true },
    });
    expect(ipam.path).toBe('/ipam?family=ipv4&owner=ns%2Fpod');
    expect(ipam.headers).toEqual({ expiration: 'true' });
  });

  it("refuses '.' and '..' as path parameters (URL parsing would resolve them away)", () => {
    expect(() => requestOf('PatchEndpointIDConfig', { params: { id: '..' }, body: {} })).toThrow(
      "id '..' is not valid",
    );
    expect(requestOf('GetMapName', { params: { name: '...' } }).path).toBe('/map/...');
  });

  it('refuses a call without a path parameter the route needs', () => {
    expect(() => requestOf('GetEndpointID', { params: {} as { id: string } })).toThrow(
      "GetEndpointID: missing path parameter 'id'",
    );
  });
});
