import type { DB, Table } from '../../core/statedb/index.js';
import type { Endpoint } from './model.js';

/** The endpoints table: by id, container id, pod name and CNI attachment id. */
export function newEndpointTable(db: DB): Table<Endpoint> {
  return db.newTable<Endpoint>({
    name: 'endpoints',
    primaryKey: (e) => String(e.id).padStart(5, '0'),
    indexes: [
      { name: 'container-id', key: (e) => (e.containerId ? [e.containerId] : []), unique: false },
      {
        name: 'container-name',
        key: (e) => (e.containerName ? [e.containerName] : []),
        unique: false,
      },
      {
        name: 'pod-name',
        key: (e) => (e.k8sPodName ? [`${e.k8sNamespace}/${e.k8sPodName}`] : []),
        unique: false,
      },
      {
        name: 'cni-attachment-id',
        key: (e) => (e.cniAttachmentId ? [e.cniAttachmentId] : []),
        unique: true,
      },
      {
        name: 'docker-endpoint',
        key: (e) => (e.dockerEndpointId ? [e.dockerEndpointId] : []),
        unique: false,
      },
      { name: 'ip', key: (e) => [e.ipv4, e.ipv6].filter((ip) => ip !== ''), unique: true },
      { name: 'interface', key: (e) => (e.ifName ? [e.ifName] : []), unique: true },
    ],
  });
}

/** The primary key of an endpoint id. */
export function endpointKey(id: number): string {
  return String(id).padStart(5, '0');
}
