// The cell's private wiring: the client (Kubernetes mode) and the CRD registration, started as
// jobs so that the agent's start never waits for the API server.
import { sleep, token, type Health, type Jobs, type Logger } from '../../core/hive/index.js';
import { ApiServerClient, connectOptions, disabledK8sClient } from './client.js';
import type { K8sConfig } from './config.js';
import { CrdRegistrar } from './crds.js';
import { RESOURCES } from './resources.js';
import type { K8sAccess, K8sClient } from './types.js';

/** How often a connected agent asks /version again (the status' freshness). */
export const VERSION_PROBE_MS = 30_000;

/** The connection of a Kubernetes-mode agent; both undefined in embedded mode. */
export interface K8sConnection {
  readonly client: ApiServerClient | undefined;
  readonly crds: CrdRegistrar | undefined;
  /** What other cells get as K8sClient. */
  readonly public: K8sClient;
}

/** The cell's private connection. */
export const K8sConnection = token<K8sConnection>('k8s/K8sConnection');

/** What the connection needs. */
export interface ConnectionParams {
  readonly config: K8sConfig;
  readonly access: K8sAccess;
  readonly jobs: Jobs;
  readonly health: Health;
  readonly logger: Logger;
}

/** Picks the mode; in Kubernetes mode schedules the connection and the CRD registration. */
export function newK8sConnection(p: ConnectionParams): K8sConnection {
  const opts = connectOptions(p.config);
  if (!opts) {
    p.health.ok(
      'Disabled (embedded mode: no kubeconfig, API server or in-cluster service account)',
    );
    return { client: undefined, crds: undefined, public: disabledK8sClient() };
  }
  const logger = p.logger.child({ subsys: 'k8s' });
  const client = new ApiServerClient({
    connect: opts,
    access: p.access,
    health: p.health,
    logger,
    backoffMaxMs: p.config.k8sWatchBackoffMax,
    apiNames: () =>
      Object.values(RESOURCES)
        .map((d) => d.api)
        .sort(),
  });
  p.health.ok(`connecting to the API server at ${client.target()}`);
  const crds = new CrdRegistrar({
    client,
    skipCreation: p.config.skipCrdCreation,
    health: p.health.scope('crds'),
    logger,
    backoffMaxMs: p.config.k8sWatchBackoffMax,
  });
  p.jobs.oneShot('connect', async ({ signal }) => {
    await client.run(signal);
    // Connected: keep the status fresh (and the health honest) while the agent runs.
    const stopped = (): boolean => signal.aborted; // read afresh after each await
    while (!stopped()) {
      await sleep(VERSION_PROBE_MS, signal);
      if (stopped()) return;
      await client.probe(signal).catch(() => undefined);
    }
  });
  p.jobs.oneShot('crds', ({ signal }) => crds.run(signal));
  return { client, crds, public: client };
}
