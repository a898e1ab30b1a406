// The services created through the REST API, on disk: `<state-dir>/services.json`, written
// atomically and durably before a change is acknowledged, so an acknowledged PUT or DELETE
// survives a restart. Each entry is checked as a PUT body is when it is read back.
import { lstatSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Model } from '../../core/api/index.js';
import { fsyncDir, mkdirDurable, readStateFile, writeFileAtomic } from '../../core/atomic-file.js';
import { frontendKeyOf, serviceRequest, type ServiceRequest } from './spec.js';

type ServiceSpec = Model<'ServiceSpec'>;

/** What loading found: the services, or why the file could not be used. */
export interface LoadedServices {
  readonly requests: readonly ServiceRequest[];
  /** Set when the file was unreadable or invalid; it was moved aside to `keptAside`. */
  readonly problem?: string;
  readonly keptAside?: string;
}

const VERSION = 1;

/** The largest file read back: 65535 services of many backends each. */
const MAX_BYTES = 256 * 1024 * 1024;

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Checks a parsed file; returns the requests, or throws naming what is wrong. */
function requestsOf(v: unknown): ServiceRequest[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as { version?: unknown; services?: unknown };
  if (o.version !== VERSION)
    throw new Error(`version is ${JSON.stringify(o.version)}, not ${VERSION}`);
  if (!Array.isArray(o.services)) throw new Error('services is not a list');
  const ids = new Set<number>();
  const frontends = new Set<string>();
  return o.services.map((s: unknown, i) => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) {
      throw new Error(`services[${i}] is not an object`);
    }
    const spec = s as ServiceSpec;
    const fa: unknown = spec['frontend-address'];
    if (typeof fa !== 'object' || fa === null) {
      throw new Error(`services[${i}] has no frontend-address`);
    }
    let req: ServiceRequest;
    try {
      req = serviceRequest(0, spec);
    } catch (e) {
      throw new Error(`services[${i}]: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (ids.has(req.id)) throw new Error(`services[${i}]: id ${req.id} appears twice`);
    ids.add(req.id);
    const fe = frontendKeyOf(req);
    if (frontends.has(fe)) throw new Error(`services[${i}]: frontend ${fe} appears twice`);
    frontends.add(fe);
    return req;
  });
}

/** The state file of API services. */
export class ServiceStore {
  constructor(readonly path: string) {}

  /**
   * Reads the services. A file that cannot be read or is invalid is moved aside (never deleted)
   * to `<file>.invalid-<time>` and reported.
   */
  load(): LoadedServices {
    if (!exists(this.path)) return { requests: [] };
    let problem: string;
    try {
      return { requests: requestsOf(JSON.parse(readStateFile(this.path, MAX_BYTES))) };
    } catch (e) {
      problem = e instanceof Error ? e.message : String(e);
    }
    const aside = `${this.path}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(this.path, aside);
    fsyncDir(dirname(this.path));
    return { requests: [], problem, keptAside: aside };
  }

  /** Writes the services; returns once they are durable (throws StateWriteError otherwise). */
  save(specs: readonly ServiceSpec[]): void {
    mkdirDurable(dirname(this.path));
    const sorted = [...specs].sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    writeFileAtomic(this.path, `${JSON.stringify({ version: VERSION, services: sorted })}\n`);
  }
}
