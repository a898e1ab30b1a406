import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';
import type { Endpoint } from './model.js';

/** The file an endpoint's state is kept in, under `<state-dir>/<id>/`. */
export const STATE_FILE = 'ep_state.json';
const FORMAT = 1;

/** Endpoint state on disk: one directory per endpoint, written atomically. */
export class EndpointStore {
  constructor(readonly dir: string) {}

  /** Persists an endpoint (its datapath status is not kept: restore re-syncs it). */
  save(ep: Endpoint): void {
    const d = join(this.dir, String(ep.id));
    mkdirSync(d, { recursive: true, mode: 0o700 });
    const { status: _status, ...rest } = ep;
    writeFileAtomic(
      join(d, STATE_FILE),
      JSON.stringify({ format: FORMAT, endpoint: rest }, null, 1),
    );
  }

  /** Forgets an endpoint. */
  remove(id: number): void {
    rmSync(join(this.dir, String(id)), { recursive: true, force: true });
  }

  /**
   * Reads every endpoint. A file that is missing, corrupt or of another format is skipped and
   * reported through `skip`; the others are returned. Leftover build directories are removed.
   */
  load(skip: (path: string, why: string) => void): Omit<Endpoint, 'status'>[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Omit<Endpoint, 'status'>[] = [];
    for (const name of names) {
      const d = join(this.dir, name);
      if (/_next(_fail)?$/.test(name)) {
        rmSync(d, { recursive: true, force: true });
        continue;
      }
      if (!/^\d+$/.test(name)) continue;
      const file = join(d, STATE_FILE);
      try {
        const doc = JSON.parse(readFileSync(file, 'utf8')) as {
          format?: number;
          endpoint?: Omit<Endpoint, 'status'>;
        };
        const ep = doc.endpoint;
        if (doc.format !== FORMAT || !ep || ep.id !== Number(name) || !Array.isArray(ep.labels)) {
          throw new Error(`not an endpoint state file of format ${FORMAT}`);
        }
        out.push(ep);
      } catch (e) {
        skip(file, e instanceof Error ? e.message : String(e));
      }
    }
    return out.sort((a, b) => a.id - b.id);
  }
}
