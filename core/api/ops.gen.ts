// Generated from api-spec/openapi.yaml by scripts/gen-api-types.ts. Do not edit.

import type { Readable } from 'node:stream';
import type { CallArgs, OperationId, Success } from './types.js';

/** Where each operation lives: method, path template and where its parameters go. */
export const OPERATIONS = {
  GetHealthz: { method: 'GET', path: '/healthz', path_params: [], query: [], headers: ['brief'], stream: false },
  GetConfig: { method: 'GET', path: '/config', path_params: [], query: [], headers: [], stream: false },
  PatchConfig: { method: 'PATCH', path: '/config', path_params: [], query: [], headers: [], stream: false },
  GetDebuginfo: { method: 'GET', path: '/debuginfo', path_params: [], query: [], headers: [], stream: false },
  GetClusterNodes: { method: 'GET', path: '/cluster/nodes', path_params: [], query: [], headers: ['client-id'], stream: false },
  GetNodeIds: { method: 'GET', path: '/node/ids', path_params: [], query: [], headers: [], stream: false },
  GetCgroupDumpMetadata: { method: 'GET', path: '/cgroup-dump-metadata', path_params: [], query: [], headers: [], stream: false },
  GetMap: { method: 'GET', path: '/map', path_params: [], query: [], headers: [], stream: false },
  GetMapName: { method: 'GET', path: '/map/{name}', path_params: ['name'], query: [], headers: [], stream: false },
  GetMapNameEvents: { method: 'GET', path: '/map/{name}/events', path_params: ['name'], query: ['follow'], headers: [], stream: true },
  GetMetrics: { method: 'GET', path: '/metrics/', path_params: [], query: [], headers: [], stream: false },
  GetEndpoint: { method: 'GET', path: '/endpoint', path_params: [], query: [], headers: [], stream: false },
  DeleteEndpoint: { method: 'DELETE', path: '/endpoint', path_params: [], query: [], headers: [], stream: false },
  GetEndpointID: { method: 'GET', path: '/endpoint/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  PutEndpointID: { method: 'PUT', path: '/endpoint/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  PatchEndpointID: { method: 'PATCH', path: '/endpoint/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  DeleteEndpointID: { method: 'DELETE', path: '/endpoint/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  GetEndpointIDConfig: { method: 'GET', path: '/endpoint/{id}/config', path_params: ['id'], query: [], headers: [], stream: false },
  PatchEndpointIDConfig: { method: 'PATCH', path: '/endpoint/{id}/config', path_params: ['id'], query: [], headers: [], stream: false },
  GetEndpointIDLabels: { method: 'GET', path: '/endpoint/{id}/labels', path_params: ['id'], query: [], headers: [], stream: false },
  PatchEndpointIDLabels: { method: 'PATCH', path: '/endpoint/{id}/labels', path_params: ['id'], query: [], headers: [], stream: false },
  GetEndpointIDLog: { method: 'GET', path: '/endpoint/{id}/log', path_params: ['id'], query: [], headers: [], stream: false },
  GetEndpointIDHealthz: { method: 'GET', path: '/endpoint/{id}/healthz', path_params: ['id'], query: [], headers: [], stream: false },
  GetIdentity: { method: 'GET', path: '/identity', path_params: [], query: [], headers: [], stream: false },
  GetIdentityID: { method: 'GET', path: '/identity/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  GetIdentityEndpoints: { method: 'GET', path: '/identity/endpoints', path_params: [], query: [], headers: [], stream: false },
  PostIpam: { method: 'POST', path: '/ipam', path_params: [], query: ['family', 'owner', 'pool'], headers: ['expiration'], stream: false },
  PostIpamIP: { method: 'POST', path: '/ipam/{ip}', path_params: ['ip'], query: ['owner', 'pool'], headers: [], stream: false },
  DeleteIpamIP: { method: 'DELETE', path: '/ipam/{ip}', path_params: ['ip'], query: ['pool'], headers: [], stream: false },
  GetPolicy: { method: 'GET', path: '/policy', path_params: [], query: [], headers: [], stream: false },
  PutPolicy: { method: 'PUT', path: '/policy', path_params: [], query: ['replace', 'replace-with-labels'], headers: [], stream: false },
  DeletePolicy: { method: 'DELETE', path: '/policy', path_params: [], query: [], headers: [], stream: false },
  GetPolicySelectors: { method: 'GET', path: '/policy/selectors', path_params: [], query: [], headers: [], stream: false },
  GetPolicyResolve: { method: 'GET', path: '/policy/resolve', path_params: [], query: [], headers: [], stream: false },
  GetFqdnCache: { method: 'GET', path: '/fqdn/cache', path_params: [], query: ['matchpattern', 'cidr', 'source'], headers: [], stream: false },
  DeleteFqdnCache: { method: 'DELETE', path: '/fqdn/cache', path_params: [], query: ['matchpattern'], headers: [], stream: false },
  GetFqdnCacheID: { method: 'GET', path: '/fqdn/cache/{id}', path_params: ['id'], query: ['matchpattern', 'cidr', 'source'], headers: [], stream: false },
  GetFqdnNames: { method: 'GET', path: '/fqdn/names', path_params: [], query: [], headers: [], stream: false },
  GetIP: { method: 'GET', path: '/ip', path_params: [], query: ['cidr', 'labels'], headers: [], stream: false },
  GetService: { method: 'GET', path: '/service', path_params: [], query: [], headers: [], stream: false },
  GetServiceID: { method: 'GET', path: '/service/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  PutServiceID: { method: 'PUT', path: '/service/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  DeleteServiceID: { method: 'DELETE', path: '/service/{id}', path_params: ['id'], query: [], headers: [], stream: false },
  GetLrp: { method: 'GET', path: '/lrp', path_params: [], query: [], headers: [], stream: false },
  GetPrefilter: { method: 'GET', path: '/prefilter', path_params: [], query: [], headers: [], stream: false },
  PatchPrefilter: { method: 'PATCH', path: '/prefilter', path_params: [], query: [], headers: [], stream: false },
  DeletePrefilter: { method: 'DELETE', path: '/prefilter', path_params: [], query: [], headers: [], stream: false },
  GetBgpPeers: { method: 'GET', path: '/bgp/peers', path_params: [], query: [], headers: [], stream: false },
  GetBgpRoutes: { method: 'GET', path: '/bgp/routes', path_params: [], query: ['table_type', 'afi', 'safi', 'router_asn', 'neighbor'], headers: [], stream: false },
  GetBgpRoutePolicies: { method: 'GET', path: '/bgp/route-policies', path_params: [], query: ['router_asn'], headers: [], stream: false },
} as const satisfies Record<OperationId, OperationRoute>;

/** How one operation is sent. */
export interface OperationRoute {
  readonly method: string;
  readonly path: string;
  readonly path_params: readonly string[];
  readonly query: readonly string[];
  readonly headers: readonly string[];
  /** The reply is a stream (of JSON objects), not one JSON document. */
  readonly stream: boolean;
}

/** One typed method per operation of the spec; a transport implements `call` and `stream`. */
export abstract class Operations {
  /** Sends one operation and resolves with its success body. */
  protected abstract call<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Success<K>>;
  /** Sends one operation whose reply is a stream and resolves with the open body. */
  protected abstract stream<K extends OperationId>(op: K, args: CallArgs<K>): Promise<Readable>;

  /** GET /healthz: Health and status of the agent and its cells */
  getHealthz(args: CallArgs<'GetHealthz'> = {}): Promise<Success<'GetHealthz'>> {
    return this.call('GetHealthz', args);
  }
  /** GET /config: The agent's configuration */
  getConfig(args: CallArgs<'GetConfig'> = {}): Promise<Success<'GetConfig'>> {
    return this.call('GetConfig', args);
  }
  /** PATCH /config: Change runtime-changeable options */
  patchConfig(args: CallArgs<'PatchConfig'>): Promise<Success<'PatchConfig'>> {
    return this.call('PatchConfig', args);
  }
  /** GET /debuginfo: Information about the agent and its environment, for debugging */
  getDebuginfo(args: CallArgs<'GetDebuginfo'> = {}): Promise<Success<'GetDebuginfo'>> {
    return this.call('GetDebuginfo', args);
  }
  /** GET /cluster/nodes: Nodes known to the agent; with client-id, the change since that client's last call */
  getClusterNodes(args: CallArgs<'GetClusterNodes'> = {}): Promise<Success<'GetClusterNodes'>> {
    return this.call('GetClusterNodes', args);
  }
  /** GET /node/ids: Node IDs and the IPs they stand for */
  getNodeIds(args: CallArgs<'GetNodeIds'> = {}): Promise<Success<'GetNodeIds'>> {
    return this.call('GetNodeIds', args);
  }
  /** GET /cgroup-dump-metadata: Pods and their cgroups as the agent tracks them */
  getCgroupDumpMetadata(args: CallArgs<'GetCgroupDumpMetadata'> = {}): Promise<Success<'GetCgroupDumpMetadata'>> {
    return this.call('GetCgroupDumpMetadata', args);
  }
  /** GET /map: Every BPF map the agent owns, each with its cache */
  getMap(args: CallArgs<'GetMap'> = {}): Promise<Success<'GetMap'>> {
    return this.call('GetMap', args);
  }
  /** GET /map/{name}: One BPF map and its cache */
  getMapName(args: CallArgs<'GetMapName'>): Promise<Success<'GetMapName'>> {
    return this.call('GetMapName', args);
  }
  /** GET /map/{name}/events: The map's recent events, as a stream of MapEvent objects */
  getMapNameEvents(args: CallArgs<'GetMapNameEvents'>): Promise<Readable> {
    return this.stream('GetMapNameEvents', args);
  }
  /** GET /metrics/: The agent's metrics */
  getMetrics(args: CallArgs<'GetMetrics'> = {}): Promise<Success<'GetMetrics'>> {
    return this.call('GetMetrics', args);
  }
  /** GET /endpoint: Endpoints whose labels match (all when no labels are given) */
  getEndpoint(args: CallArgs<'GetEndpoint'> = {}): Promise<Success<'GetEndpoint'>> {
    return this.call('GetEndpoint', args);
  }
  /** DELETE /endpoint: Delete every endpoint of a container */
  deleteEndpoint(args: CallArgs<'DeleteEndpoint'>): Promise<Success<'DeleteEndpoint'>> {
    return this.call('DeleteEndpoint', args);
  }
  /** GET /endpoint/{id}: One endpoint */
  getEndpointID(args: CallArgs<'GetEndpointID'>): Promise<Success<'GetEndpointID'>> {
    return this.call('GetEndpointID', args);
  }
  /** PUT /endpoint/{id}: Create an endpoint */
  putEndpointID(args: CallArgs<'PutEndpointID'>): Promise<Success<'PutEndpointID'>> {
    return this.call('PutEndpointID', args);
  }
  /** PATCH /endpoint/{id}: Apply a change request to an existing endpoint (deprecated) */
  patchEndpointID(args: CallArgs<'PatchEndpointID'>): Promise<Success<'PatchEndpointID'>> {
    return this.call('PatchEndpointID', args);
  }
  /** DELETE /endpoint/{id}: Delete an endpoint and free what it holds */
  deleteEndpointID(args: CallArgs<'DeleteEndpointID'>): Promise<Success<'DeleteEndpointID'>> {
    return this.call('DeleteEndpointID', args);
  }
  /** GET /endpoint/{id}/config: An endpoint's configuration */
  getEndpointIDConfig(args: CallArgs<'GetEndpointIDConfig'>): Promise<Success<'GetEndpointIDConfig'>> {
    return this.call('GetEndpointIDConfig', args);
  }
  /** PATCH /endpoint/{id}/config: Change an endpoint's runtime options */
  patchEndpointIDConfig(args: CallArgs<'PatchEndpointIDConfig'>): Promise<Success<'PatchEndpointIDConfig'>> {
    return this.call('PatchEndpointIDConfig', args);
  }
  /** GET /endpoint/{id}/labels: An endpoint's labels */
  getEndpointIDLabels(args: CallArgs<'GetEndpointIDLabels'>): Promise<Success<'GetEndpointIDLabels'>> {
    return this.call('GetEndpointIDLabels', args);
  }
  /** PATCH /endpoint/{id}/labels: Set an endpoint's user labels */
  patchEndpointIDLabels(args: CallArgs<'PatchEndpointIDLabels'>): Promise<Success<'PatchEndpointIDLabels'>> {
    return this.call('PatchEndpointIDLabels', args);
  }
  /** GET /endpoint/{id}/log: An endpoint's status log */
  getEndpointIDLog(args: CallArgs<'GetEndpointIDLog'>): Promise<Success<'GetEndpointIDLog'>> {
    return this.call('GetEndpointIDLog', args);
  }
  /** GET /endpoint/{id}/healthz: An endpoint's health */
  getEndpointIDHealthz(args: CallArgs<'GetEndpointIDHealthz'>): Promise<Success<'GetEndpointIDHealthz'>> {
    return this.call('GetEndpointIDHealthz', args);
  }
  /** GET /identity: Identities whose labels match (all when no labels are given) */
  getIdentity(args: CallArgs<'GetIdentity'> = {}): Promise<Success<'GetIdentity'>> {
    return this.call('GetIdentity', args);
  }
  /** GET /identity/{id}: One identity */
  getIdentityID(args: CallArgs<'GetIdentityID'>): Promise<Success<'GetIdentityID'>> {
    return this.call('GetIdentityID', args);
  }
  /** GET /identity/endpoints: Identities used by local endpoints, with reference counts */
  getIdentityEndpoints(args: CallArgs<'GetIdentityEndpoints'> = {}): Promise<Success<'GetIdentityEndpoints'>> {
    return this.call('GetIdentityEndpoints', args);
  }
  /** POST /ipam: Allocate the next free IP */
  postIpam(args: CallArgs<'PostIpam'> = {}): Promise<Success<'PostIpam'>> {
    return this.call('PostIpam', args);
  }
  /** POST /ipam/{ip}: Allocate a given IP */
  postIpamIP(args: CallArgs<'PostIpamIP'>): Promise<Success<'PostIpamIP'>> {
    return this.call('PostIpamIP', args);
  }
  /** DELETE /ipam/{ip}: Release an IP (or every IP of an owner) */
  deleteIpamIP(args: CallArgs<'DeleteIpamIP'>): Promise<Success<'DeleteIpamIP'>> {
    return this.call('DeleteIpamIP', args);
  }
  /** GET /policy: The policy rules (those matching the labels, if given) */
  getPolicy(args: CallArgs<'GetPolicy'> = {}): Promise<Success<'GetPolicy'>> {
    return this.call('GetPolicy', args);
  }
  /** PUT /policy: Add or replace policy rules (the body is the rules' JSON as a string) */
  putPolicy(args: CallArgs<'PutPolicy'>): Promise<Success<'PutPolicy'>> {
    return this.call('PutPolicy', args);
  }
  /** DELETE /policy: Delete the policy rules matching the labels */
  deletePolicy(args: CallArgs<'DeletePolicy'> = {}): Promise<Success<'DeletePolicy'>> {
    return this.call('DeletePolicy', args);
  }
  /** GET /policy/selectors: Which identities each selector of the policy matches */
  getPolicySelectors(args: CallArgs<'GetPolicySelectors'> = {}): Promise<Success<'GetPolicySelectors'>> {
    return this.call('GetPolicySelectors', args);
  }
  /** GET /policy/resolve: Trace the policy decision between two label sets (and destination ports) */
  getPolicyResolve(args: CallArgs<'GetPolicyResolve'> = {}): Promise<Success<'GetPolicyResolve'>> {
    return this.call('GetPolicyResolve', args);
  }
  /** GET /fqdn/cache: DNS lookups seen from all endpoints */
  getFqdnCache(args: CallArgs<'GetFqdnCache'> = {}): Promise<Success<'GetFqdnCache'>> {
    return this.call('GetFqdnCache', args);
  }
  /** DELETE /fqdn/cache: Forget matching DNS lookups */
  deleteFqdnCache(args: CallArgs<'DeleteFqdnCache'> = {}): Promise<Success<'DeleteFqdnCache'>> {
    return this.call('DeleteFqdnCache', args);
  }
  /** GET /fqdn/cache/{id}: DNS lookups seen from one endpoint */
  getFqdnCacheID(args: CallArgs<'GetFqdnCacheID'>): Promise<Success<'GetFqdnCacheID'>> {
    return this.call('GetFqdnCacheID', args);
  }
  /** GET /fqdn/names: DNS names and selectors the policy uses */
  getFqdnNames(args: CallArgs<'GetFqdnNames'> = {}): Promise<Success<'GetFqdnNames'>> {
    return this.call('GetFqdnNames', args);
  }
  /** GET /ip: The ipcache, optionally within a CIDR */
  getIP(args: CallArgs<'GetIP'> = {}): Promise<Success<'GetIP'>> {
    return this.call('GetIP', args);
  }
  /** GET /service: Every service */
  getService(args: CallArgs<'GetService'> = {}): Promise<Success<'GetService'>> {
    return this.call('GetService', args);
  }
  /** GET /service/{id}: One service */
  getServiceID(args: CallArgs<'GetServiceID'>): Promise<Success<'GetServiceID'>> {
    return this.call('GetServiceID', args);
  }
  /** PUT /service/{id}: Create or update a service */
  putServiceID(args: CallArgs<'PutServiceID'>): Promise<Success<'PutServiceID'>> {
    return this.call('PutServiceID', args);
  }
  /** DELETE /service/{id}: Delete a service */
  deleteServiceID(args: CallArgs<'DeleteServiceID'>): Promise<Success<'DeleteServiceID'>> {
    return this.call('DeleteServiceID', args);
  }
  /** GET /lrp: Local redirect policies */
  getLrp(args: CallArgs<'GetLrp'> = {}): Promise<Success<'GetLrp'>> {
    return this.call('GetLrp', args);
  }
  /** GET /prefilter: The XDP deny list and its revision */
  getPrefilter(args: CallArgs<'GetPrefilter'> = {}): Promise<Success<'GetPrefilter'>> {
    return this.call('GetPrefilter', args);
  }
  /** PATCH /prefilter: Add CIDRs to the XDP deny list */
  patchPrefilter(args: CallArgs<'PatchPrefilter'>): Promise<Success<'PatchPrefilter'>> {
    return this.call('PatchPrefilter', args);
  }
  /** DELETE /prefilter: Remove CIDRs from the XDP deny list */
  deletePrefilter(args: CallArgs<'DeletePrefilter'>): Promise<Success<'DeletePrefilter'>> {
    return this.call('DeletePrefilter', args);
  }
  /** GET /bgp/peers: BGP peers and their sessions */
  getBgpPeers(args: CallArgs<'GetBgpPeers'> = {}): Promise<Success<'GetBgpPeers'>> {
    return this.call('GetBgpPeers', args);
  }
  /** GET /bgp/routes: BGP routes from a routing table */
  getBgpRoutes(args: CallArgs<'GetBgpRoutes'>): Promise<Success<'GetBgpRoutes'>> {
    return this.call('GetBgpRoutes', args);
  }
  /** GET /bgp/route-policies: BGP route policies */
  getBgpRoutePolicies(args: CallArgs<'GetBgpRoutePolicies'> = {}): Promise<Success<'GetBgpRoutePolicies'>> {
    return this.call('GetBgpRoutePolicies', args);
  }
}
