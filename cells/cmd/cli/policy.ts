// `cellium policy import|get|delete|wait|selectors|trace`: the policy repository, as Cilium's
// `cilium-dbg policy` commands show and change it. The agent parses and checks the rules: the
// CLI sends each file's text as it is and prints the agent's word when it refuses one.
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { ApiClientError } from '../../../core/api/client.js';
import type { CelliumClient } from '../../../core/api/typed-client.js';
import type { Model } from '../../../core/api/types.js';
import { print, withClient } from './common.js';
import { table } from './render.js';

type Policy = Model<'Policy'>;
type Port = Model<'Port'>;
type Protocol = NonNullable<Port['protocol']>;

/** How long `policy wait` waits by default (Cilium's --max-wait-time). */
export const DEFAULT_MAX_WAIT = '360s';
/** How often `policy wait` lists the endpoints. */
export const WAIT_INTERVAL_MS = 200;

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPV6', 'ANY'];
const UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** `policy wait`'s revision argument: a non-negative integer. */
export function parseRevision(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) {
    throw new Error(`invalid revision '${s}': give a non-negative integer`);
  }
  return n;
}

/** A duration in milliseconds: Go's syntax (`30s`, `2m`, `1m30s`, `500ms`) or plain seconds. */
export function parseDuration(s: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < t.length) {
    part.lastIndex = at;
    const m = part.exec(t);
    if (!m) break;
    ms += Number(m[1]) * (UNITS[m[2] ?? ''] ?? NaN);
    at = part.lastIndex;
  }
  if (t === '' || at !== t.length || !Number.isFinite(ms)) {
    throw new Error(`invalid duration '${s}': give e.g. 30s, 2m, 1m30s or seconds`);
  }
  return ms;
}

/** A `--dport` value, `port[/protocol]` (the protocol is ANY when not given, as Cilium's). */
export function parseDport(s: string): Port {
  const [port = '', proto, ...rest] = s.split('/');
  const n = Number(port);
  if (rest.length > 0 || !/^\d+$/.test(port) || n > 65535) {
    throw new Error(`invalid port '${s}': give <port>[/<protocol>], the port 0-65535`);
  }
  const protocol = (proto ?? 'ANY').toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new Error(`invalid protocol in '${s}': give one of ${PROTOCOLS.join(', ')}`);
  }
  return { port: n, protocol: protocol as Protocol };
}

/** `--src a,b --src c`: repeatable and comma-separated, as cobra's string slices. */
function collect(v: string, prev: readonly string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim())].filter((s) => s !== '');
}

/** Runs `call`, an agent's refusal prefixed with what was being done (the agent's words kept). */
async function doing<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof ApiClientError) throw new ApiClientError(e.status, `${what}: ${e.message}`);
    throw e;
  }
}

async function readAll(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads every file (`-` is stdin) before anything is sent; a file that cannot be read is named. */
export async function readPolicyFiles(
  files: readonly string[],
  stdin: Readable = process.stdin,
): Promise<string[]> {
  let fromStdin: Promise<string> | undefined;
  return Promise.all(
    files.map(async (f) => {
      if (f === '-') return (fromStdin ??= readAll(stdin));
      try {
        return await readFile(f, 'utf8');
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new Error(`Cannot read policy file '${f}': ${why}`);
      }
    }),
  );
}

/** The rules of several answers as one JSON text (each answer's `policy` is a JSON array). */
export function joinPolicies(answers: readonly Policy[]): string {
  const rules = answers.flatMap((a) => JSON.parse(a.policy ?? '[]') as unknown[]);
  return JSON.stringify(rules, null, 2);
}

/** `policy get` and `import --print`: the rules' JSON, then the revision (Cilium's format). */
export function policyText(p: Policy): string {
  return `${p.policy ?? '[]'}\nRevision: ${p.revision ?? 0}`;
}

/** `policy selectors`: one row per selected identity, the selector's columns on its first. */
export function selectorsText(sc: Model<'SelectorCache'>): string {
  const rows = sc.flatMap((m) => {
    const labels = (m.labels ?? [])
      .map((l) => `${l.source ?? 'unspec'}:${l.key ?? ''}${l.value ? `=${l.value}` : ''}`)
      .join(',');
    const cols = [m.selector ?? '', labels, String(m.users ?? 0)];
    const ids = m.identities ?? [];
    if (ids.length === 0) return [[...cols, '']];
    return ids.map((id, i) => [...(i === 0 ? cols : ['', '', '']), String(id)]);
  });
  return table(['SELECTOR', 'LABELS', 'USERS', 'IDENTITIES'], rows);
}

/** The endpoints below `revision`, as `policy wait` names them. */
export function behind(eps: readonly Model<'Endpoint'>[], revision: number): string[] {
  return eps.flatMap((e) => {
    const rev = e.status?.policy?.realized?.['policy-revision'] ?? 0;
    return rev >= revision ? [] : [`${e.id ?? '?'} (revision ${rev})`];
  });
}

/** Polls the endpoints until all run `revision`; throws naming those behind after `maxMs`. */
async function waitFor(
  api: CelliumClient,
  revision: number,
  maxMs: number,
  say: (s: string) => void,
): Promise<void> {
  const start = Date.now();
  let last = '';
  for (;;) {
    const eps = await doing('Cannot list endpoints', api.getEndpoint());
    const late = behind(eps, revision);
    if (late.length === 0) {
      say(`Revision ${revision} is realized (${eps.length}/${eps.length} endpoints)`);
      return;
    }
    const progress = `${eps.length - late.length}/${eps.length}`;
    if (progress !== last)
      say(`Waiting for endpoints to run policy revision ${revision}: ${progress}`);
    last = progress;
    const left = maxMs - (Date.now() - start);
    if (maxMs > 0 && left <= 0) {
      const shown = late.length > 20 ? [...late.slice(0, 20), `${late.length - 20} more`] : late;
      throw new Error(
        `Max wait time of ${maxMs / 1000}s reached: endpoints ${shown.join(', ')} have not realized policy revision ${revision}`,
      );
    }
    const nap = maxMs > 0 ? Math.min(WAIT_INTERVAL_MS, left) : WAIT_INTERVAL_MS;
    await new Promise((r) => setTimeout(r, nap));
  }
}

/** One PUT per file, in order, stopping at the first refusal (which names the file). */
async function importAll(
  api: CelliumClient,
  files: readonly string[],
  texts: readonly string[],
  query: { replace?: boolean; 'replace-with-labels'?: string[] },
): Promise<Policy[]> {
  const answers: Policy[] = [];
  for (const [i, text] of texts.entries()) {
    const last = answers.at(-1);
    const done = last
      ? ` (after importing ${files.slice(0, i).join(', ')}, revision ${last.revision ?? 0})`
      : '';
    const what = files.length > 1 ? ` from '${files[i] ?? ''}'${done}` : '';
    answers.push(await doing(`Cannot import policy${what}`, api.putPolicy({ query, body: text })));
  }
  return answers;
}

interface ImportOptions {
  replace?: boolean;
  replaceWithLabels?: string[];
  print?: boolean;
}

interface TraceOptions {
  src?: string[];
  dst?: string[];
  dport?: string[];
  verbose?: boolean;
}

/** `cellium policy ...`: the policy repository and its verdicts (Cilium's `policy` commands). */
export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('Manage security policies');

  policy
    .command('import')
    .description('Import security policy in JSON or YAML (one request per file, in order)')
    .argument('<files...>', 'policy files (rules, CiliumNetworkPolicy manifests); - reads stdin')
    .option('--replace', 'Replace existing policy rules with the same labels')
    .option(
      '--replace-with-labels <labels>',
      'Replace existing rules with all these labels',
      collect,
    )
    .option('--print', 'Print the policy after the import')
    .action(async (files: string[], opts: ImportOptions, cmd: Command) => {
      const texts = await readPolicyFiles(files);
      const query = { replace: opts.replace, 'replace-with-labels': opts.replaceWithLabels };
      const answers = await withClient(cmd, (api) => importAll(api, files, texts, query));
      const result: Policy = {
        revision: answers.at(-1)?.revision ?? 0,
        policy: joinPolicies(answers),
      };
      print(cmd, result, () =>
        opts.print ? policyText(result) : `Revision: ${result.revision ?? 0}`,
      );
    });

  policy
    .command('get')
    .description('Display policy rules (all, or those with all the labels)')
    .argument('[labels...]', 'rule labels, e.g. k8s:io.cilium.k8s.policy.name=web')
    .action(async (labels: string[], _: unknown, cmd: Command) => {
      const p = await withClient(cmd, (api) =>
        doing('Cannot get policy', api.getPolicy({ body: labels })),
      );
      print(cmd, p, () => policyText(p));
    });

  policy
    .command('delete')
    .description('Delete policy rules (those with all the labels, or --all)')
    .argument('[labels...]', 'rule labels')
    .option('--all', 'Delete all policy rules')
    .action(async (labels: string[], opts: { all?: boolean }, cmd: Command) => {
      if ((labels.length === 0) === (opts.all !== true)) {
        throw new Error('give labels or --all: delete { <labels> | --all }');
      }
      const p = await withClient(cmd, (api) =>
        doing('Cannot delete policy', api.deletePolicy({ body: labels })),
      );
      print(cmd, p, () => `Revision: ${p.revision ?? 0}`);
    });

  policy
    .command('wait')
    .description('Wait for all endpoints to have updated to a given policy revision')
    .argument('<revision>', 'policy revision')
    .option('--max-wait-time <duration>', 'Give up after this long (0: never)', DEFAULT_MAX_WAIT)
    .action(async (arg: string, opts: { maxWaitTime: string }, cmd: Command) => {
      const revision = parseRevision(arg);
      const maxMs = parseDuration(opts.maxWaitTime);
      await withClient(cmd, (api) =>
        waitFor(api, revision, maxMs, (s) => process.stdout.write(`${s}\n`)),
      );
    });

  policy
    .command('selectors')
    .description('Display cached information about selectors')
    .action(async (_: unknown, cmd: Command) => {
      const sc = await withClient(cmd, (api) =>
        doing('Cannot get selectors', api.getPolicySelectors()),
      );
      print(cmd, sc, () => selectorsText(sc));
    });

  policy
    .command('trace')
    .description('Trace a policy decision between two label sets (and destination ports)')
    .option('-s, --src <labels>', 'Source labels, e.g. k8s:app=frontend', collect)
    .option('-d, --dst <labels>', 'Destination labels', collect)
    .option('--dport <port[/protocol]>', 'Destination L4 port and protocol, e.g. 80/tcp', collect)
    .option('-v, --verbose', 'Set tracing to TRACE_VERBOSE')
    .action(async (opts: TraceOptions, cmd: Command) => {
      if (!opts.src?.length || !opts.dst?.length) {
        throw new Error('give both source and destination labels (--src and --dst)');
      }
      const body: Model<'TraceSelector'> = {
        from: { labels: opts.src },
        to: { labels: opts.dst, dports: (opts.dport ?? []).map(parseDport) },
        verbose: opts.verbose === true,
      };
      const r = await withClient(cmd, (api) =>
        doing('Cannot trace policy', api.getPolicyResolve({ body })),
      );
      print(cmd, r, () => (r.log ?? '').replace(/\n$/, ''));
    });
}
