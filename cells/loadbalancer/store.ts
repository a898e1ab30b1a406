// The services created through the REST API, on disk: one file per service,
// `<state-dir>/services/<id>.json`, written atomically and durably before a change is
// acknowledged, so an acknowledged PUT or DELETE survives a restart; a change writes only the
// files of the services it touched. Each file is checked as a PUT body is when it is read back;
// one that is not valid is kept aside and the others are restored.
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../../core/api/index.js';
import {
  fsyncDir,
  mkdirDurable,
  readStateFile,
  removeDurable,
  writeFileAtomic,
} from '../../core/atomic-file.js';
import { frontendKeyOf, serviceRequest, type ServiceRequest } from './spec.js';

type ServiceSpec = Model<'ServiceSpec'>;

/** A service file that could not be used, and where it was moved. */
export interface StoreProblem {
  readonly file: string;
  readonly problem: string;
  readonly keptAside: string;
}

/** What loading found: the services, and the files that could not be used. */
export interface LoadedServices {
  readonly requests: readonly ServiceRequest[];
  readonly problems: readonly StoreProblem[];
}

/** A service to write (`spec`) or to remove (no `spec`). */
export interface StoreChange {
  readonly id: number;
  readonly spec?: ServiceSpec;
}

const VERSION = 1;

/** The largest service file read back (a service of many backends). */
const MAX_BYTES = 16 * 1024 * 1024;

const FILE = /^(\d{1,5})\.json$/;

/** Checks one parsed file (named for service `id`); returns its request or throws why not. */
function requestOf(v: unknown, id: number): ServiceRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as { version?: unknown; service?: unknown };
  if (o.version !== VERSION)
    throw new Error(`version is ${JSON.stringify(o.version)}, not ${VERSION}`);
  const spec = o.service;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw new Error('service is not an object');
  const req = serviceRequest(0, spec as ServiceSpec);
  if (req.id !== id) throw new Error(`it holds service ${req.id}, not ${id}`);
  return req;
}

/** The state files of API services. */
export class ServiceStore {
  /** What each file holds now, by service id (what a change compares with and undoes to). */
  private readonly onDisk = new Map<number, string>();

  constructor(readonly dir: string) {}

  /** The file of service `id`. */
  path(id: number): string {
    return join(this.dir, `${id}.json`);
  }

  /**
   * Reads the services. A file that cannot be read or is invalid, or names a frontend another
   * file has, is moved aside (never deleted) to `<file>.invalid-<time>` and reported.
   */
  load(): LoadedServices {
    this.onDisk.clear();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { requests: [], problems: [] };
      throw e;
    }
    const requests: ServiceRequest[] = [];
    const problems: StoreProblem[] = [];
    const frontends = new Map<string, number>();
    const ids = names
      .map((n) => FILE.exec(n)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const id of ids) {
      const file = this.path(id);
      let text: string;
      try {
        text = readStateFile(file, MAX_BYTES);
        const req = requestOf(JSON.parse(text), id);
        const fe = frontendKeyOf(req);
        const other = frontends.get(fe);
        if (other !== undefined) throw new Error(`its frontend ${fe} is service ${other}'s`);
        frontends.set(fe, id);
        requests.push(req);
        this.onDisk.set(id, text);
      } catch (e) {
        const problem = e instanceof Error ? e.message : String(e);
        const keptAside = `${file}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        renameSync(file, keptAside);
        fsyncDir(this.dir);
        problems.push({ file, problem, keptAside });
      }
    }
    return { requests, problems };
  }

  /** The ids of the services on disk. */
  ids(): number[] {
    return [...this.onDisk.keys()];
  }

  /**
   * Writes the changed services' files and removes the removed ones; returns once that is
   * durable. A failure (a StateWriteError) puts back what this call had already changed, as far
   * as the disk lets it, and is rethrown.
   */
  write(changes: readonly StoreChange[]): void {
    const done: [number, string | undefined][] = [];
    const put = (id: number, text: string | undefined): void => {
      if (text === undefined) removeDurable(this.path(id));
      else writeFileAtomic(this.path(id), text);
      if (text === undefined) this.onDisk.delete(id);
      else this.onDisk.set(id, text);
    };
    try {
      for (const c of changes) {
        const text =
          c.spec === undefined
            ? undefined
            : `${JSON.stringify({ version: VERSION, service: c.spec })}\n`;
        const before = this.onDisk.get(c.id);
        if (text === before) continue;
        if (done.length === 0) mkdirDurable(this.dir);
        put(c.id, text);
        done.push([c.id, before]);
      }
    } catch (e) {
      for (const [id, before] of done.reverse()) {
        try {
          put(id, before);
        } catch {
          // The disk refuses: the next successful write of this service puts it right.
        }
      }
      throw e;
    }
  }
}
