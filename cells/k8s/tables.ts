// The reflected resources' tables: one per resource, keyed by `namespace/name` (or `name`), with
// the secondary indexes their readers use. The real reflectors and the in-memory double share them.
import type { DB, Table } from '../../core/statedb/index.js';
import {
  objectKey,
  type CiliumIdentityObject,
  type CiliumPolicyObject,
  type EndpointSlice,
  type K8sObject,
  type Namespace,
  type NetworkPolicy,
  type Node,
  type Pod,
  type Service,
} from './types.js';

/** Secondary index of namespaced tables: the namespace. */
export const BY_NAMESPACE = 'namespace';
/** Secondary index of endpoint slices: `namespace/service` from the kubernetes.io/service-name label. */
export const BY_SERVICE = 'service';
/** The label an EndpointSlice names its Service with. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The reflected tables by resource. */
export interface K8sTables {
  readonly pods: Table<Pod>;
  readonly namespaces: Table<Namespace>;
  readonly nodes: Table<Node>;
  readonly services: Table<Service>;
  readonly endpointSlices: Table<EndpointSlice>;
  readonly networkPolicies: Table<NetworkPolicy>;
  readonly ciliumNetworkPolicies: Table<CiliumPolicyObject>;
  readonly ciliumClusterwideNetworkPolicies: Table<CiliumPolicyObject>;
  readonly ciliumIdentities: Table<CiliumIdentityObject>;
}

function namespaced<T extends K8sObject>(db: DB, name: string): Table<T> {
  return db.newTable<T>({
    name,
    primaryKey: objectKey,
    indexes: [{ name: BY_NAMESPACE, key: (o) => o.metadata.namespace ?? '', unique: false }],
  });
}

function clusterScoped<T extends K8sObject>(db: DB, name: string): Table<T> {
  return db.newTable<T>({ name, primaryKey: objectKey });
}

/** Creates the tables in `db`. */
export function newK8sTables(db: DB): K8sTables {
  return {
    pods: namespaced<Pod>(db, 'k8s-pods'),
    namespaces: clusterScoped<Namespace>(db, 'k8s-namespaces'),
    nodes: clusterScoped<Node>(db, 'k8s-nodes'),
    services: namespaced<Service>(db, 'k8s-services'),
    endpointSlices: db.newTable<EndpointSlice>({
      name: 'k8s-endpointslices',
      primaryKey: objectKey,
      indexes: [
        { name: BY_NAMESPACE, key: (o) => o.metadata.namespace ?? '', unique: false },
        {
          name: BY_SERVICE,
          key: (o) =>
            `${o.metadata.namespace ?? ''}/${o.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''}`,
          unique: false,
        },
      ],
    }),
    networkPolicies: namespaced<NetworkPolicy>(db, 'k8s-networkpolicies'),
    ciliumNetworkPolicies: namespaced<CiliumPolicyObject>(db, 'k8s-ciliumnetworkpolicies'),
    ciliumClusterwideNetworkPolicies: clusterScoped<CiliumPolicyObject>(
      db,
      'k8s-ciliumclusterwidenetpols',
    ),
    ciliumIdentities: clusterScoped<CiliumIdentityObject>(db, 'k8s-ciliumidentities'),
  };
}
