// The services created through the REST API, on disk: one file per service,
// `<state-dir>/services/<id>.json`, written atomically and durably before a change is
// acknowledged, so an acknowledged PUT or DELETE survives a restart; a change writes only the
// files of the services it touched. Each file is checked as a PUT body is when it is read back;
// one that is not valid is kept aside and the others are restored.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadSpec,
  SpecValidator,
  type Model,
  type OperationValidator,
} from '../../core/api/index.js';
import {
  fsyncDir,
  mkdirDurable,
  readStateFile,
  StateWriteError,
  writeFileAtomic,
} from '../../core/atomic-file.js';
import { errorMessage } from '../../core/hive/index.js';
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

/** A service's file: its id in decimal without leading zeros. */
const FILE = /^(0|[1-9]\d{0,4})\.json$/;
/** What looks like a service's file but is not named as this store names them. */
const ODD = /^\d+\.json$/;

// The PUT body's validator (the API's own schema), compiled at the first file read.
let putBody: OperationValidator | undefined;
function checkSpec(spec: unknown): void {
  if (!putBody) {
    const api = loadSpec();
    const op = api.operations.get('PutServiceID');
    if (!op) throw new Error('the API spec has no PutServiceID');
    putBody = new SpecValidator(api).for(op);
  }
  putBody.body(spec);
}

/** Checks one parsed file (named for service `id`); returns its request or throws why not. */
function requestOf(v: unknown, id: number): ServiceRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as { version?: unknown; service?: unknown };
  if (o.version !== VERSION)
    throw new Error(`version is ${JSON.stringify(o.version)}, not ${VERSION}`);
  const spec = o.service;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw new Error('service is not an object');
  // As a PUT body is checked: the schema (types, ranges, enums), then what it cannot say.
  checkSpec(spec);
  const req = serviceRequest(0, spec as ServiceSpec);
  if (req.id !== id) throw new Error(`it holds service ${req.id}, not ${id}`);
  return req;
}

/** The state files of API services. */
export class ServiceStore {
  /**
   * A digest of what each file holds, by service id (a change that would write the same bytes
   * writes nothing). Digests, not the texts: 10k services of 10 backends were 10 MB of them.
   */
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
    const problems: StoreProblem[] = [];
    const asideName = (file: string): string =>
      `${file}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const setAside = (file: string, problem: string): void => {
      const keptAside = asideName(file);
      try {
        renameSync(file, keptAside);
        fsyncDir(this.dir);
        problems.push({ file, problem, keptAside });
      } catch (e) {
        // Left in place (and named): a file that cannot be moved does not stop the start.
        problems.push({
          file,
          problem: `${problem}; it could not be moved aside: ${errorMessage(e)}`,
          keptAside: file,
        });
      }
    };
    let names: string[];
    try {
      if (!lstatSync(this.dir).isDirectory()) {
        const keptAside = asideName(this.dir);
        renameSync(this.dir, keptAside);
        return {
          requests: [],
          problems: [{ file: this.dir, problem: 'not a directory', keptAside }],
        };
      }
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { requests: [], problems: [] };
      throw e;
    }
    const requests: ServiceRequest[] = [];
    const frontends = new Map<string, number>();
    const files = names
      .flatMap((name) => {
        const id = FILE.exec(name)?.[1];
        if (id !== undefined) return [{ name, id: Number(id) }];
        if (ODD.test(name)) setAside(join(this.dir, name), 'not a service file name (<id>.json)');
        return [];
      })
      .sort((a, b) => a.id - b.id);
    for (const { name, id } of files) {
      const file = join(this.dir, name);
      try {
        const text = readStateFile(file, MAX_BYTES);
        const req = requestOf(JSON.parse(text), id);
        const fe = frontendKeyOf(req);
        const other = frontends.get(fe);
        if (other !== undefined) throw new Error(`its frontend ${fe} is service ${other}'s`);
        frontends.set(fe, id);
        requests.push(req);
        this.onDisk.set(id, digest(text));
      } catch (e) {
        setAside(file, errorMessage(e));
      }
    }
    return { requests, problems };
  }

  /** Removes service `id`'s file durably (only a file: never a tree planted in its place). */
  private remove(id: number): void {
    const file = this.path(id);
    try {
      unlinkSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new StateWriteError(file, 'remove', e);
      return;
    }
    fsyncDir(this.dir);
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
    /** What this call changed: the id, the file's text before (undefined: none; null: not read). */
    const done: [number, string | undefined | null][] = [];
    const put = (id: number, text: string | undefined): void => {
      if (text === undefined) this.remove(id);
      else writeFileAtomic(this.path(id), text);
      if (text === undefined) this.onDisk.delete(id);
      else this.onDisk.set(id, digest(text));
    };
    try {
      for (const c of changes) {
        const text =
          c.spec === undefined
            ? undefined
            : `${JSON.stringify({ version: VERSION, service: c.spec })}\n`;
        const had = this.onDisk.get(c.id);
        if (text === undefined ? had === undefined : had === digest(text)) continue;
        if (done.length === 0) mkdirDurable(this.dir);
        // Read back before it is replaced, to be put back if a later file of this call fails
        // (a change of one file, a PUT's, has no later file: its write is atomic on its own).
        let before: string | undefined | null = null;
        if (had === undefined) before = undefined;
        else if (changes.length > 1) {
          try {
            before = readStateFile(this.path(c.id), MAX_BYTES);
          } catch {
            before = null; // not put back then, rather than lost
          }
        }
        put(c.id, text);
        done.push([c.id, before]);
      }
    } catch (e) {
      for (const [id, before] of done.reverse()) {
        if (before === null) continue;
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

/** A file's text's digest (what tells a change from a rewrite of the same bytes). */
function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}
