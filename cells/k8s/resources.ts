// The reflected resources: one table per resource (tables.ts), each filled by a reflector in
// Kubernetes mode; empty and never synced in embedded mode. Pods are only this node's.
import { setMaxListeners } from 'node:events';
import type { Health, Jobs, Logger } from '../../core/hive/index.js';
import type { DB, WriteTxn } from '../../core/statedb/index.js';
import { waitFor } from '../../core/statedb/index.js';
import type { ApiServerClient } from './client.js';
import { Reflector, type ListWatcher } from './reflector.js';
import { slimNode, slimPod } from './slim.js';
import { newK8sTables, type K8sTables } from './tables.js';
import { K8sHttpError } from './transport.js';
import {
  CILIUM_GROUP,
  CILIUM_VERSION,
  type K8sAccess,
  type K8sObject,
  type K8sResource,
  type K8sResources,
} from './types.js';

/** Where a reflected resource lives on the API server. */
export interface ResourceDef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  /** The kind its objects say they are (when they say: lists of built-in kinds leave it out). */
  readonly kind: string;
  readonly namespaced: boolean;
  /** Cilium's name of the API in /healthz `k8s-api-versions`. */
  readonly api: string;
  /** Served only once the Cilium CRDs are registered. */
  readonly crd?: boolean;
  readonly transform?: (o: K8sObject) => K8sObject;
}

/** Every reflected resource, by table. */
export const RESOURCES: Readonly<Record<keyof K8sTables, ResourceDef>> = {
  pods: {
    group: '',
    version: 'v1',
    plural: 'pods',
    kind: 'Pod',
    namespaced: true,
    api: 'core/v1::Pods',
    transform: slimPod,
  },
  namespaces: {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    api: 'core/v1::Namespace',
  },
  nodes: {
    group: '',
    version: 'v1',
    plural: 'nodes',
    kind: 'Node',
    namespaced: false,
    api: 'core/v1::Node',
    transform: slimNode,
  },
  services: {
    group: '',
    version: 'v1',
    plural: 'services',
    kind: 'Service',
    namespaced: true,
    api: 'core/v1::Service',
  },
  endpointSlices: {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
    api: 'discovery/v1::EndpointSlices',
  },
  networkPolicies: {
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
    namespaced: true,
    api: 'networking.k8s.io/v1::NetworkPolicy',
  },
  ciliumNetworkPolicies: {
    group: CILIUM_GROUP,
    version: CILIUM_VERSION,
    plural: 'ciliumnetworkpolicies',
    kind: 'CiliumNetworkPolicy',
    namespaced: true,
    api: 'cilium/v2::CiliumNetworkPolicy',
    crd: true,
  },
  ciliumClusterwideNetworkPolicies: {
    group: CILIUM_GROUP,
    version: CILIUM_VERSION,
    plural: 'ciliumclusterwidenetworkpolicies',
    kind: 'CiliumClusterwideNetworkPolicy',
    namespaced: false,
    api: 'cilium/v2::CiliumClusterwideNetworkPolicy',
    crd: true,
  },
  ciliumIdentities: {
    group: CILIUM_GROUP,
    version: CILIUM_VERSION,
    plural: 'ciliumidentities',
    kind: 'CiliumIdentity',
    namespaced: false,
    api: 'cilium/v2::CiliumIdentity',
    crd: true,
  },
};

/**
 * Why an object is not of the resource's kind (a broken or hostile API server answering with
 * another kind), or undefined; an object without a kind (a list's item) is taken as the list's.
 */
export function wrongKind(o: K8sObject, kind: string): string | undefined {
  const k: unknown = (o as { kind?: unknown }).kind;
  if (k === undefined || k === kind) return undefined;
  return `kind ${JSON.stringify(typeof k === 'string' ? k.slice(0, 64) : k)} is not ${kind}`;
}

/** A watch's server-side timeout: 5 to 10 minutes, as client-go's reflector asks. */
export function watchTimeoutSeconds(random: () => number = Math.random): number {
  return Math.floor(300 * (1 + random()));
}

/** The collection path of a resource (all namespaces). */
export function resourcePath(d: ResourceDef): string {
  return d.group === ''
    ? `/api/${d.version}/${d.plural}`
    : `/apis/${d.group}/${d.version}/${d.plural}`;
}

/** Declares the list and watch rules of every reflected resource. */
export function declareReflectorAccess(access: K8sAccess): void {
  for (const [name, d] of Object.entries(RESOURCES)) {
    access.declare({
      group: d.group,
      resource: d.plural,
      verbs: ['list', 'watch'],
      why: `k8s: reflect ${name} into the k8s-${d.plural} table`,
    });
  }
}

/** A ListWatcher over the API server for one resource (`fieldSelector` to filter). */
export function apiListWatcher(
  client: ApiServerClient,
  d: ResourceDef,
  fieldSelector?: string,
): ListWatcher {
  const path = resourcePath(d);
  const sel = fieldSelector !== undefined ? { fieldSelector } : {};
  return {
    async list({ limit, continue: cont, signal }) {
      const res = await client.transport().request('GET', path, {
        query: { limit, ...sel, ...(cont !== undefined ? { continue: cont } : {}) },
        signal,
      });
      if (res.status !== 200) throw K8sHttpError.of(`list ${d.plural}`, res.status, res.body);
      const body = (res.body ?? {}) as {
        items?: unknown;
        metadata?: { resourceVersion?: unknown; continue?: unknown };
      };
      if (!Array.isArray(body.items)) throw new Error(`list ${d.plural}: the answer has no items`);
      const rv = body.metadata?.resourceVersion;
      if (typeof rv !== 'string' || rv === '')
        throw new Error(`list ${d.plural}: the answer has no resourceVersion`);
      const next = body.metadata?.continue;
      return {
        items: body.items as unknown[],
        resourceVersion: rv,
        ...(typeof next === 'string' && next !== '' ? { continue: next } : {}),
      };
    },
    watch({ resourceVersion, signal }, onEvent) {
      return client.transport().watch(
        path,
        // As client-go's reflector: the API server ends the watch after 5-10 min (spread so
        // that a node's watches do not all restart together), and it is started again.
        {
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: watchTimeoutSeconds(),
          ...sel,
        },
        onEvent,
        signal,
      );
    },
  };
}

/** What the reflected resources need. */
export interface ResourcesParams {
  readonly db: DB;
  /** Undefined in embedded mode. */
  readonly client: ApiServerClient | undefined;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
  readonly nodeName: string;
  readonly backoffMaxMs: number;
  /** Resolves once the Cilium CRDs are there (CRD-backed reflectors wait for it). */
  readonly crdsReady: (signal: AbortSignal) => Promise<void>;
}

/** The tables, with a reflector job per resource in Kubernetes mode. */
export function newK8sResources(p: ResourcesParams): K8sResources & { readonly tables: K8sTables } {
  const tables = newK8sTables(p.db);
  const names = Object.keys(tables) as (keyof K8sTables)[];
  const done = new Map<keyof K8sTables, (txn: WriteTxn) => void>();
  p.db.update(
    names.map((n) => tables[n]),
    (txn) => {
      for (const n of names)
        done.set(n, txn.registerInitializer(tables[n] as never, 'k8s-reflector'));
    },
  );
  const resource = <T extends K8sObject>(name: keyof K8sTables): K8sResource<T> => {
    const table = tables[name] as unknown as K8sResource<T>['table'];
    const isSynced = (): boolean => table.initialized(p.db.readTxn());
    return {
      table,
      synced: isSynced,
      waitSynced: (signal) =>
        waitFor(
          p.db,
          table,
          () => (isSynced() ? true : undefined),
          Number.POSITIVE_INFINITY,
          () => new Error('never'),
          signal,
        ).then(() => undefined),
    };
  };
  const client = p.client;
  if (client) {
    for (const name of names) {
      const d = RESOURCES[name];
      const health = p.health.scope(name);
      health.ok('waiting for the API server');
      const source = apiListWatcher(
        client,
        d,
        name === 'pods' ? `spec.nodeName=${p.nodeName}` : undefined,
      );
      const reflector = new Reflector<K8sObject>({
        name,
        db: p.db,
        table: tables[name] as never,
        source,
        namespaced: d.namespaced,
        initialized: (txn) => done.get(name)?.(txn),
        ...(d.transform ? { transform: d.transform } : {}),
        validate: (o) => wrongKind(o, d.kind),
        health,
        logger: p.logger.child({ resource: name }),
        backoffMaxMs: p.backoffMaxMs,
      });
      p.jobs.oneShot(`reflect-${name}`, async ({ signal }) => {
        // The module's jobs share one signal, and each reflector listens on it.
        setMaxListeners(100, signal);
        await client.ready(signal);
        if (d.crd) {
          health.ok('waiting for the Cilium CRDs');
          await p.crdsReady(signal);
        }
        health.ok('listing');
        await reflector.run(signal);
      });
    }
  }
  const res = Object.fromEntries(names.map((n) => [n, resource(n)])) as unknown as Omit<
    K8sResources,
    'enabled'
  >;
  return { enabled: client !== undefined, ...res, tables };
}
