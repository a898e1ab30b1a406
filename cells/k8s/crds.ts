// The Cilium CRDs: the manifests of charts/cellium/crds/ (one source: embedded into the built
// agent by scripts/build.ts, read from the chart otherwise), registered at start (created, or
// updated when the stored one carries an older schema version) and waited for until Established;
// with --skip-crd-creation only waited for.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { errorMessage, sleep, type Health, type Logger } from '../../core/hive/index.js';
import { findUp } from '../../core/paths.js';
import { jittered } from './backoff.js';
import type { ApiServerClient } from './client.js';
import { K8sHttpError } from './transport.js';
import type { K8sAccess } from './types.js';

/** The label Cilium puts on its CRDs with the version of their schema. */
export const CRD_SCHEMA_VERSION_LABEL = 'io.cilium.k8s.crd.schema.version';

/** The manifests' files in charts/cellium/crds/, one CRD each. */
export const CRD_FILES = [
  'ciliumnetworkpolicies.yaml',
  'ciliumclusterwidenetworkpolicies.yaml',
  'ciliumendpoints.yaml',
  'ciliumnodes.yaml',
  'ciliumidentities.yaml',
] as const;

/** A CRD manifest as the API server takes it. */
export interface CrdManifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  readonly spec: Record<string, unknown>;
  readonly status?: unknown;
}

// Set by scripts/build.ts: the manifests as JSON by file name, so the agent needs no chart beside it.
declare const __CELLIUM_CRDS__: string | undefined;

/** The bundled CRD manifests, parsed (from the build, or from the chart in the sources). */
export function crdManifests(): CrdManifest[] {
  let byFile: Record<string, unknown> | undefined;
  if (typeof __CELLIUM_CRDS__ === 'string')
    byFile = JSON.parse(__CELLIUM_CRDS__) as Record<string, unknown>;
  return CRD_FILES.map((f) => {
    let doc = byFile?.[f];
    if (doc === undefined) {
      const p = findUp(`charts/cellium/crds/${f}`);
      if (!p) throw new Error(`charts/cellium/crds/${f} not found`);
      doc = parseYaml(readFileSync(p, 'utf8')) as unknown;
    }
    return doc as CrdManifest;
  });
}

/** The schema version a manifest carries ('' when unlabeled). */
export function schemaVersion(
  o: { metadata?: { labels?: Record<string, string> } } | undefined,
): string {
  return o?.metadata?.labels?.[CRD_SCHEMA_VERSION_LABEL] ?? '';
}

/** Compares dotted versions numerically (`1.10.0` > `1.9.3`); '' is older than any. */
export function compareVersions(a: string, b: string): number {
  const pa = a === '' ? [] : a.split('.').map((x) => parseInt(x, 10) || 0);
  const pb = b === '' ? [] : b.split('.').map((x) => parseInt(x, 10) || 0);
  if (pa.length === 0 || pb.length === 0) return pa.length - pb.length;
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** Declares what registering (or checking) the CRDs needs, whatever the mode. */
export function declareCrdAccess(access: K8sAccess): void {
  access.declare({
    group: 'apiextensions.k8s.io',
    resource: 'customresourcedefinitions',
    verbs: ['get', 'create', 'update'],
    why: 'k8s: register the Cilium CRDs at start (--skip-crd-creation: only check them)',
  });
}

/** What the CRD registration needs. */
export interface CrdParams {
  readonly client: ApiServerClient;
  /** --skip-crd-creation: only wait for them to exist. */
  readonly skipCreation: boolean;
  readonly health: Health;
  readonly logger: Logger;
  readonly backoffMaxMs: number;
  readonly manifests?: readonly CrdManifest[];
}

function established(o: unknown): boolean {
  const conds = (o as { status?: { conditions?: unknown } } | undefined)?.status?.conditions;
  return (
    Array.isArray(conds) &&
    conds.some(
      (c) =>
        (c as { type?: unknown; status?: unknown }).type === 'Established' &&
        (c as { status?: unknown }).status === 'True',
    )
  );
}

/** Registers (or checks) the CRDs; `ready` resolves once all are Established. */
export class CrdRegistrar {
  private readonly manifests: readonly CrdManifest[];
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly p: CrdParams) {
    this.manifests = p.manifests ?? crdManifests();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Resolves once every CRD is Established (rejects when `signal` aborts). */
  ready(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new Error('stopped'));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        reject(new Error('stopped'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void this.done.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Registers or checks until every CRD is Established, retrying with backoff. */
  async run(signal: AbortSignal): Promise<void> {
    await this.p.client.ready(signal);
    const pending = new Set(this.manifests.map((m) => m.metadata.name));
    const stopped = (): boolean => signal.aborted; // read afresh after each await
    for (let attempt = 0; !stopped(); attempt++) {
      const problems: string[] = [];
      for (const m of this.manifests) {
        if (!pending.has(m.metadata.name)) continue;
        try {
          if (await this.ensure(m, signal)) pending.delete(m.metadata.name);
          else
            problems.push(
              `${m.metadata.name}: ${this.p.skipCreation ? 'missing' : 'not established yet'}`,
            );
        } catch (e) {
          if (stopped()) return;
          problems.push(`${m.metadata.name}: ${errorMessage(e)}`);
        }
      }
      if (pending.size === 0) {
        this.p.health.ok(
          `${this.manifests.length} CRDs ${this.p.skipCreation ? 'registered (checked, --skip-crd-creation)' : 'registered'} and established`,
        );
        this.resolveDone();
        return;
      }
      const what = this.p.skipCreation
        ? `waiting for CRDs to be registered by someone else (--skip-crd-creation): ${[...pending].join(', ')}`
        : `registering CRDs: ${problems.join('; ')}`;
      this.p.health.degraded(what);
      // Establishing takes the API server a moment: look again soon, then less and less often.
      await sleep(jittered(attempt, this.p.backoffMaxMs), signal);
    }
  }

  /** Creates or updates one CRD as needed; true once it is Established. */
  private async ensure(m: CrdManifest, signal: AbortSignal): Promise<boolean> {
    const t = this.p.client.transport();
    const path = `${CRD_PATH}/${m.metadata.name}`;
    const got = await t.request('GET', path, { signal });
    if (got.status === 404) {
      if (this.p.skipCreation) return false;
      const res = await t.request('POST', CRD_PATH, { body: m, signal });
      if (res.status === 409) return false; // someone else created it meanwhile: look again
      if (res.status !== 201 && res.status !== 200)
        throw K8sHttpError.of(`create ${m.metadata.name}`, res.status, res.body);
      this.p.logger.info({ crd: m.metadata.name, version: schemaVersion(m) }, 'CRD created');
      return established(res.body);
    }
    if (got.status !== 200) throw K8sHttpError.of(`get ${m.metadata.name}`, got.status, got.body);
    const stored = got.body as CrdManifest;
    if (!this.p.skipCreation && compareVersions(schemaVersion(stored), schemaVersion(m)) < 0) {
      // Older (or unlabeled) schema: replace it with ours; a newer one is left alone, as Cilium does.
      const body = {
        ...m,
        metadata: { ...m.metadata, resourceVersion: stored.metadata.resourceVersion },
      };
      const res = await t.request('PUT', path, { body, signal });
      if (res.status === 409) return false; // changed meanwhile: read it again next round
      if (res.status !== 200)
        throw K8sHttpError.of(`update ${m.metadata.name}`, res.status, res.body);
      this.p.logger.info(
        { crd: m.metadata.name, from: schemaVersion(stored), to: schemaVersion(m) },
        'CRD updated to the bundled schema version',
      );
      return established(res.body);
    }
    return established(stored);
  }
}
