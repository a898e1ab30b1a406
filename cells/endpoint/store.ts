import {
  type Dirent,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  fsyncDir,
  mkdirDurable,
  readStateFile,
  removeDurable,
  writeFileAtomic,
} from '../../core/atomic-file.js';
import { schemaValidator } from '../../core/api/index.js';
import { isLinkName } from '../../core/net/index.js';
import type { PersistedEndpoint } from './model.js';
import { MAC_PATTERN } from './validate.js';

/** The file an endpoint's state is kept in, under `<state-dir>/endpoints/<id>/`. */
export const STATE_FILE = 'ep_state.json';
const FORMAT = 1;
/** State files larger than this are not endpoint state (a real one is a few KB). */
const MAX_STATE_BYTES = 1 << 20;

const text = (max: number) => ({ type: 'string', maxLength: max });
const ipOrEmpty = (format: 'ipv4' | 'ipv6') => ({
  anyOf: [
    { type: 'string', maxLength: 0 },
    { type: 'string', format },
  ],
});
const MAC = { type: 'string', pattern: MAC_PATTERN };

/** What a state file must hold before any of its values is used (restore validates first). */
const STATE_SCHEMA = {
  type: 'object',
  required: ['format', 'endpoint'],
  properties: {
    format: { const: FORMAT },
    endpoint: {
      type: 'object',
      required: [
        'id',
        'containerId',
        'containerName',
        'containerInterfaceName',
        'dockerEndpointId',
        'cniAttachmentId',
        'k8sNamespace',
        'k8sPodName',
        'k8sUid',
        'ifName',
        'ifIndex',
        'mac',
        'hostMac',
        'ipv4',
        'ipv6',
        'labels',
        'userLabels',
        'identity',
        'options',
        'externalIpam',
        'createdAt',
      ],
      properties: {
        id: { type: 'integer', minimum: 1, maximum: 65535 },
        containerId: text(512),
        containerName: text(512),
        containerInterfaceName: text(64),
        dockerEndpointId: text(512),
        cniAttachmentId: text(1024),
        k8sNamespace: text(253),
        k8sPodName: text(253),
        k8sUid: text(128),
        // Optional: state files written before the field existed have none.
        pid: { type: 'integer', minimum: 0, maximum: 4194304 },
        // Checked as a Linux interface name (bytes, not characters) after the schema.
        ifName: { type: 'string', maxLength: 15 },
        ifIndex: { type: 'integer', minimum: 0, maximum: 2147483647 },
        mac: MAC,
        hostMac: MAC,
        ipv4: ipOrEmpty('ipv4'),
        ipv6: ipOrEmpty('ipv6'),
        labels: { type: 'array', maxItems: 1024, items: text(1024) },
        userLabels: { type: 'array', maxItems: 1024, items: text(1024) },
        // Optional (Kubernetes mode): the pod's labels and named ports.
        k8sLabels: { type: 'array', maxItems: 1024, items: text(1024) },
        namedPorts: {
          type: 'array',
          maxItems: 1024,
          items: {
            type: 'object',
            required: ['name', 'port', 'protocol'],
            additionalProperties: false,
            properties: {
              name: text(15),
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              protocol: { enum: ['TCP', 'UDP', 'SCTP'] },
            },
          },
        },
        identity: { type: 'integer', minimum: 0, maximum: 4294967295 },
        options: {
          type: 'object',
          maxProperties: 64,
          propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9]{0,63}$' },
          additionalProperties: text(64),
        },
        externalIpam: { type: 'boolean' },
        createdAt: text(64),
      },
    },
  },
};
// Compiled at first use: ajv's compile is tens of milliseconds a start without endpoints skips.
let checkSchema: ((value: unknown, where: string) => void) | undefined;

/** An endpoint that restore would not take back: refused before it is saved, never acknowledged. */
export class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

/**
 * Why a state document is not one restore takes back (the same rule for writing and reading),
 * or undefined when it is: the schema, then what it cannot say.
 */
function invalid(doc: unknown, name: string): string | undefined {
  try {
    checkSchema ??= schemaValidator(STATE_SCHEMA);
    checkSchema(doc, 'state');
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const ep = (doc as { endpoint: PersistedEndpoint }).endpoint;
  if (String(ep.id) !== name) return `holds endpoint ${ep.id}, not ${name}`;
  if (ep.ipv4 === '' && ep.ipv6 === '') return 'has no IP address';
  if (ep.ifName !== '' && !isLinkName(ep.ifName)) {
    return `state.endpoint.ifName ${JSON.stringify(ep.ifName)} is not an interface name`;
  }
  return undefined;
}

/** An entry of the endpoints directory: its name (an id) and what it is. */
export interface StateEntry {
  readonly name: string;
  readonly kind: 'directory' | 'symlink' | 'other';
}

/** The outcome of reading one endpoint directory. */
export type StateRead =
  | { readonly ok: true; readonly endpoint: PersistedEndpoint }
  | { readonly ok: false; readonly why: string; readonly leftover?: true };

/**
 * Endpoint state on disk: one directory per endpoint, written atomically and durably. What is
 * read back is validated against a schema before any value is used; what fails is moved to a
 * quarantine directory for the operator, never deleted.
 */
export class EndpointStore {
  /** Where files that could not be restored are kept aside. */
  readonly quarantineDir: string;

  constructor(readonly dir: string) {
    this.quarantineDir = `${dir}-quarantine`;
  }

  /**
   * Persists an endpoint durably; throws InvalidStateError for what restore would refuse, and
   * StateWriteError (with the errno) when the disk fails.
   */
  save(ep: PersistedEndpoint): void {
    const doc = { format: FORMAT, endpoint: pick(ep) };
    const why = invalid(doc, String(ep.id));
    if (why !== undefined) throw new InvalidStateError(`endpoint ${ep.id} cannot be kept: ${why}`);
    const d = join(this.dir, String(ep.id));
    const fresh = !existsSync(d);
    mkdirDurable(d);
    if (!fresh) removeLeftovers(d);
    try {
      writeFileAtomic(join(d, STATE_FILE), JSON.stringify(doc, null, 1));
    } catch (e) {
      // A new endpoint's empty directory would be a bad state file at the next restore.
      if (fresh) {
        try {
          removeDurable(d);
        } catch {
          // the disk refuses even that: restore quarantines the empty directory
        }
      }
      throw e;
    }
  }

  /** Forgets an endpoint durably; throws StateWriteError on failure. */
  remove(id: number): void {
    removeDurable(join(this.dir, String(id)));
  }

  /**
   * The endpoint directories to restore, by id, with what each entry is (one readdir for all).
   * Leftover build directories (`<id>_next`, `<id>_next_fail`) are removed; anything else that
   * is not an id is left alone.
   */
  list(): StateEntry[] {
    let entries: Dirent[];
    try {
      entries = readdirSync(this.dir, { withFileTypes: true });
    } catch (e) {
      // Only a missing directory means no endpoints; anything else must not look like none.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: StateEntry[] = [];
    for (const e of entries) {
      if (/^\d+_next(_fail)?$/.test(e.name)) removeDurable(join(this.dir, e.name));
      else if (/^\d+$/.test(e.name)) {
        out.push({
          name: e.name,
          kind: e.isDirectory() ? 'directory' : e.isSymbolicLink() ? 'symlink' : 'other',
        });
      }
    }
    return out.sort((a, b) => Number(a.name) - Number(b.name));
  }

  /** Reads and validates one endpoint directory (never following symlinks). */
  read(entry: StateEntry): StateRead {
    if (entry.kind !== 'directory') {
      return { ok: false, why: entry.kind === 'symlink' ? 'is a symlink' : 'is not a directory' };
    }
    const file = join(this.dir, entry.name, STATE_FILE);
    try {
      const doc = parse(readStateFile(file, MAX_STATE_BYTES));
      const why = invalid(doc, entry.name);
      if (why !== undefined) return { ok: false, why };
      return { ok: true, endpoint: pick((doc as { endpoint: PersistedEndpoint }).endpoint) };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      // A directory whose first state file was never written: a create the agent died in,
      // never acknowledged.
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      return missing
        ? { ok: false, why: `has no ${STATE_FILE}`, leftover: true }
        : { ok: false, why };
    }
  }

  /**
   * Takes the state for this agent: a lock file with its pid. Another live agent's lock is
   * refused (two agents on one state would overwrite each other's endpoints); a dead one's is
   * taken over.
   */
  lock(): void {
    const file = `${this.dir}.lock`;
    mkdirDurable(dirname(file));
    for (;;) {
      try {
        writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid !== process.pid && agentAlive(pid)) {
        throw new Error(
          `the endpoint state in ${this.dir} is in use by another agent (pid ${pid}, ${file})`,
        );
      }
      unlinkSync(file);
    }
  }

  /** Gives the state up (at stop). */
  unlock(): void {
    const file = `${this.dir}.lock`;
    try {
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) unlinkSync(file);
    } catch {
      // not ours, or gone
    }
  }

  /** How many state files wait in quarantine for the operator (from this and earlier starts). */
  quarantinedCount(): number {
    try {
      return readdirSync(this.quarantineDir).length;
    } catch {
      return 0;
    }
  }

  /** Moves an endpoint directory aside for the operator; returns where it went. */
  quarantine(name: string): string {
    mkdirDurable(this.quarantineDir);
    const to = join(
      this.quarantineDir,
      `${name}-${new Date().toISOString().replace(/[-:.]/g, '')}`,
    );
    renameSync(join(this.dir, name), to);
    fsyncDir(this.dir);
    fsyncDir(this.quarantineDir);
    return to;
  }
}

/** Whether `pid` is a live cellium agent (a stale lock's pid may belong to anything now). */
function agentAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cellium-agent');
  } catch {
    return false;
  }
}

/** Removes temporary files of writes that never finished (the agent died in between). */
function removeLeftovers(dir: string): void {
  try {
    for (const f of readdirSync(dir)) {
      if (f.startsWith(`.${STATE_FILE}.tmp-`)) unlinkSync(join(dir, f));
    }
  } catch {
    // best effort: the write that follows reports what is wrong with the directory
  }
}

/** Exactly the persisted fields (a state file may carry older extras, such as a log). */
function pick(ep: PersistedEndpoint): PersistedEndpoint {
  return {
    id: ep.id,
    containerId: ep.containerId,
    containerName: ep.containerName,
    containerInterfaceName: ep.containerInterfaceName,
    dockerEndpointId: ep.dockerEndpointId,
    cniAttachmentId: ep.cniAttachmentId,
    k8sNamespace: ep.k8sNamespace,
    k8sPodName: ep.k8sPodName,
    k8sUid: ep.k8sUid,
    ...(ep.pid ? { pid: ep.pid } : {}),
    ifName: ep.ifName,
    ifIndex: ep.ifIndex,
    mac: ep.mac,
    hostMac: ep.hostMac,
    ipv4: ep.ipv4,
    ipv6: ep.ipv6,
    labels: [...ep.labels],
    userLabels: [...ep.userLabels],
    ...(ep.k8sLabels ? { k8sLabels: [...ep.k8sLabels] } : {}),
    ...(ep.namedPorts ? { namedPorts: ep.namedPorts.map((p) => ({ ...p })) } : {}),
    identity: ep.identity,
    options: { ...ep.options },
    externalIpam: ep.externalIpam,
    createdAt: ep.createdAt,
  };
}

function parse(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw new Error(`is not JSON: ${(e as Error).message}`);
  }
}
