// Other nodes from a file (--nodes-file), for embedded mode without a kvstore: a JSON or YAML
// list of nodes, re-read when it changes. A file that does not validate changes nothing: the
// nodes read before stay, and the error names the entry and field. Only a regular file of at
// most MAX_NODES_FILE_BYTES is read (a FIFO or /dev/zero would block or fill the agent).
import { parse as parseYaml } from 'yaml';
import { isIPv4 } from 'node:net';
import { isIPv6Address } from '../../core/ip.js';
import { WatchedFile } from '../../core/watched-file.js';

/** The largest nodes file read (4 MiB: tens of thousands of nodes). */
export const MAX_NODES_FILE_BYTES = 4 << 20;

/** One other node, as the nodes file describes it. */
export interface StaticNode {
  readonly name: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly podCidrs: readonly string[];
  readonly healthIpv4?: string;
  readonly healthIpv6?: string;
}

/** A nodes file that cannot be used, naming the file, the entry and the field. */
export class NodesFileError extends Error {
  override readonly name = 'NodesFileError';
}

const FIELDS = new Set(['name', 'ipv4', 'ipv6', 'pod-cidrs', 'health-ipv4', 'health-ipv6']);
const NAME = /^[a-zA-Z0-9]([a-zA-Z0-9._/-]{0,251}[a-zA-Z0-9])?$/;

function isCidr(s: string): boolean {
  const [ip, bits, more] = s.split('/');
  if (ip === undefined || bits === undefined || more !== undefined || !/^\d{1,3}$/.test(bits))
    return false;
  if (isIPv4(ip)) return Number(bits) <= 32;
  return isIPv6Address(ip) && Number(bits) <= 128;
}

/**
 * Parses a nodes file's text: a list (or `{nodes: [...]}`) of `{name, ipv4, ipv6, pod-cidrs,
 * health-ipv4, health-ipv6}`, at least one address per node, names unique.
 */
export function parseNodesFile(text: string, file: string): StaticNode[] {
  let doc: unknown;
  try {
    doc = parseYaml(text); // YAML is a superset of JSON
  } catch (e) {
    throw new NodesFileError(`${file}: not JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return [];
  const list = Array.isArray(doc) ? doc : (doc as { nodes?: unknown }).nodes;
  if (!Array.isArray(list)) {
    throw new NodesFileError(`${file}: expected a list of nodes (or {"nodes": [...]})`);
  }
  const seen = new Set<string>();
  return list.map((raw: unknown, i) => {
    const where = (field?: string): string => {
      const name = (raw as { name?: unknown } | null)?.name;
      const which =
        typeof name === 'string' ? `entry ${i} (${JSON.stringify(name)})` : `entry ${i}`;
      return `${file}: ${which}${field === undefined ? '' : `: ${field}`}`;
    };
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new NodesFileError(`${where()}: a node is an object`);
    }
    const o = raw as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!FIELDS.has(k)) {
        throw new NodesFileError(`${where(k)}: unknown field (known: ${[...FIELDS].join(', ')})`);
      }
    }
    const str = (k: string): string | undefined => {
      const v = o[k];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') throw new NodesFileError(`${where(k)}: must be a string`);
      return v;
    };
    const name = str('name');
    if (name === undefined) throw new NodesFileError(`${where('name')}: is required`);
    if (!NAME.test(name)) {
      throw new NodesFileError(`${where('name')}: ${JSON.stringify(name)} is not a node name`);
    }
    if (seen.has(name)) throw new NodesFileError(`${where('name')}: a second node of that name`);
    seen.add(name);
    const ip = (k: string, v6: boolean): string | undefined => {
      const v = str(k);
      if (v !== undefined && !(v6 ? isIPv6Address(v) : isIPv4(v))) {
        throw new NodesFileError(
          `${where(k)}: ${JSON.stringify(v)} is not an IPv${v6 ? 6 : 4} address`,
        );
      }
      return v;
    };
    const ipv4 = ip('ipv4', false);
    const ipv6 = ip('ipv6', true);
    if (ipv4 === undefined && ipv6 === undefined) {
      throw new NodesFileError(`${where('ipv4')}: a node needs an ipv4 or ipv6 address`);
    }
    const cidrs = o['pod-cidrs'] ?? [];
    if (!Array.isArray(cidrs)) throw new NodesFileError(`${where('pod-cidrs')}: must be a list`);
    const podCidrs = cidrs.map((c: unknown, j) => {
      if (typeof c !== 'string' || !isCidr(c)) {
        throw new NodesFileError(`${where(`pod-cidrs.${j}`)}: ${JSON.stringify(c)} is not a CIDR`);
      }
      return c;
    });
    const healthIpv4 = ip('health-ipv4', false);
    const healthIpv6 = ip('health-ipv6', true);
    return {
      name,
      ...(ipv4 !== undefined ? { ipv4 } : {}),
      ...(ipv6 !== undefined ? { ipv6 } : {}),
      podCidrs,
      ...(healthIpv4 !== undefined ? { healthIpv4 } : {}),
      ...(healthIpv6 !== undefined ? { healthIpv6 } : {}),
    };
  });
}

/** What a StaticNodesWatcher needs. */
export interface StaticNodesParams {
  readonly file: string;
  /** Called with the new list whenever a valid file brings a different one. */
  readonly onNodes: (nodes: readonly StaticNode[]) => void;
  /** Called with the reason when the file cannot be used (the previous nodes stay). */
  readonly onError: (e: Error) => void;
  /** How often the file is checked besides fs.watch (which misses some changes). */
  readonly periodMs: number;
}

/** Watches a nodes file (core/watched-file.ts: fs.watch on its directory and a timer). */
export class StaticNodesWatcher extends WatchedFile {
  constructor(p: StaticNodesParams) {
    super({
      file: p.file,
      maxBytes: MAX_NODES_FILE_BYTES,
      periodMs: p.periodMs,
      onText: (text) => p.onNodes(parseNodesFile(text, p.file)),
      onError: (e, kind) =>
        p.onError(kind === 'read' ? new NodesFileError(`${p.file}: ${e.message}`) : e),
    });
  }
}
