import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { flag, token, type ConfigOf, type FlagSpec } from '../../core/hive/index.js';

/** The backends `--kvstore` accepts ('' is none). */
export const KVSTORE_BACKENDS = ['etcd'] as const;

/** The keys `--kvstore-opt` accepts (Cilium's names). */
export const KVSTORE_OPTS = ['etcd.address', 'etcd.config'] as const;

/** The keys of an etcd.config file this agent reads (the etcd client's YAML names). */
export const ETCD_CONFIG_KEYS = [
  'endpoints',
  'trusted-ca-file',
  'cert-file',
  'key-file',
  'username',
  'password',
] as const;

function backendFlag(): FlagSpec<string> {
  return {
    ...flag.string('', "Key-value store for cluster-wide state: 'etcd', or '' for none"),
    check: (v) =>
      v === '' || (KVSTORE_BACKENDS as readonly string[]).includes(v)
        ? undefined
        : `unknown kvstore backend '${v}' (supported: ${KVSTORE_BACKENDS.join(', ')}; '' for none)`,
  };
}

/**
 * Parses Cilium's map form of --kvstore-opt: `k=v,k=v` (a piece without '=' continues the
 * previous value, so `etcd.address=http://a:2379,http://b:2379` is a list) or a JSON object.
 */
export function parseKvstoreOpts(raw: string): Record<string, string> {
  const s = raw.trim();
  if (s === '') return {};
  const out: Record<string, string> = {};
  if (s.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(s);
    } catch (e) {
      throw new Error(`'${s}' is not a JSON object: ${(e as Error).message}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new Error(`'${s}' is not a JSON object`);
    }
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v !== 'string') throw new Error(`'${k}' must be a string`);
      out[k] = v;
    }
  } else {
    let last: string | undefined;
    for (const part of s.split(',')) {
      const p = part.trim();
      const eq = p.indexOf('=');
      if (eq < 0) {
        if (last === undefined) throw new Error(`'${p}' is not key=value`);
        out[last] = `${out[last]},${p}`;
        continue;
      }
      last = p.slice(0, eq).trim();
      if (last === '') throw new Error(`'${p}' has no key`);
      out[last] = p.slice(eq + 1).trim();
    }
  }
  const unknown = Object.keys(out).filter((k) => !(KVSTORE_OPTS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${KVSTORE_OPTS.join(', ')})`,
    );
  }
  for (const u of splitEndpoints(out['etcd.address'] ?? '')) endpointProblem(u);
  if (out['etcd.address'] !== undefined && splitEndpoints(out['etcd.address']).length === 0) {
    throw new Error('etcd.address is empty');
  }
  if (out['etcd.config'] === '') throw new Error('etcd.config is empty');
  return out;
}

function splitEndpoints(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function endpointProblem(u: string): void {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new Error(`etcd endpoint '${u}' is not a URL like http://127.0.0.1:2379`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`etcd endpoint '${u}' must be http:// or https://`);
  }
}

function optsFlag(): FlagSpec<string> {
  return {
    ...flag.string(
      '',
      'Key-value store options: etcd.address=<url>[,<url>...] or etcd.config=<YAML file with endpoints, trusted-ca-file, cert-file, key-file>; k=v,k=v or a JSON object',
    ),
    check: (v) => {
      try {
        parseKvstoreOpts(v);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  };
}

/** The kvstore cell's flags (Cilium's names and defaults). */
export const kvstoreFlags = {
  kvstore: backendFlag(),
  'kvstore-opt': optsFlag(),
  'kvstore-lease-ttl': flag.duration(
    '15m',
    "Time-to-live of the session lease that binds this agent's keys (they vanish this long after the agent dies)",
    { min: '5s' },
  ),
  'kvstore-connectivity-timeout': flag.duration(
    '2m',
    'How long a kvstore call waits for etcd to be reachable before it fails',
    { min: '1s' },
  ),
} as const;

/** The kvstore cell's configuration. */
export type KvstoreConfig = ConfigOf<typeof kvstoreFlags>;

/** The kvstore cell's configuration. */
export const KvstoreConfig = token<KvstoreConfig>('kvstore/KvstoreConfig');

/** Where and how to reach etcd, from --kvstore-opt (and the etcd.config file it names). */
export interface EtcdTarget {
  readonly endpoints: readonly string[];
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
}

/**
 * Resolves --kvstore-opt into endpoints and credentials, reading etcd.config and the files it
 * names. Errors name the flag and what was wrong.
 */
export function etcdTarget(optsRaw: string): EtcdTarget {
  const fail = (m: string): never => {
    throw new Error(`--kvstore-opt: ${m}`);
  };
  let opts: Record<string, string> = {};
  try {
    opts = parseKvstoreOpts(optsRaw);
  } catch (e) {
    fail((e as Error).message);
  }
  const address = opts['etcd.address'];
  const file = opts['etcd.config'];
  if (address === undefined && file === undefined) {
    fail('--kvstore etcd needs etcd.address=<url> or etcd.config=<file>');
  }
  if (file === undefined) return { endpoints: splitEndpoints(address ?? '') };
  const where = `etcd.config=${file}`;
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`${where}: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    fail(`${where}: not a YAML mapping (endpoints, trusted-ca-file, cert-file, key-file)`);
  }
  const cfg = doc as Record<string, unknown>;
  const unknown = Object.keys(cfg).filter(
    (k) => !(ETCD_CONFIG_KEYS as readonly string[]).includes(k),
  );
  if (unknown.length > 0) {
    fail(`${where}: unknown key(s) ${unknown.join(', ')} (known: ${ETCD_CONFIG_KEYS.join(', ')})`);
  }
  const str = (k: string): string | undefined => {
    const v = cfg[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') fail(`${where}: ${k} must be a string`);
    return v as string;
  };
  const eps = cfg.endpoints;
  const list = typeof eps === 'string' ? splitEndpoints(eps) : eps;
  if (!Array.isArray(list) || list.length === 0 || list.some((e) => typeof e !== 'string')) {
    fail(`${where}: endpoints must be a non-empty list of URLs`);
  }
  const endpoints = [...(list as string[]), ...splitEndpoints(address ?? '')];
  for (const u of endpoints) {
    try {
      endpointProblem(u);
    } catch (e) {
      fail(`${where}: ${(e as Error).message}`);
    }
  }
  const read = (k: string): Buffer | undefined => {
    const path = str(k);
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      return fail(`${where}: ${k}: ${(e as Error).message}`);
    }
  };
  const [ca, cert, key] = [read('trusted-ca-file'), read('cert-file'), read('key-file')];
  if ((cert === undefined) !== (key === undefined)) {
    fail(`${where}: cert-file and key-file go together`);
  }
  const username = str('username');
  const password = str('password');
  return {
    endpoints,
    ...(ca || cert ? { tls: { ca, cert, key } } : {}),
    ...(username !== undefined ? { auth: { username, password: password ?? '' } } : {}),
  };
}
