#!/usr/bin/env node
// cellium: the operator's CLI over the agent's REST API on its unix socket.
import { Command, Option } from 'commander';
import {
  AgentUnreachableError,
  ApiClient,
  ApiClientError,
  socketFromHost,
  type RequestOptions,
} from '../../core/api/client.js';
import type { Model } from '../../core/api/types.js';
import { celliumVersion } from '../../core/version.js';
import { statusText, table } from './cli-render.js';

interface Globals {
  host?: string;
  output?: 'json' | 'table';
}

function client(cmd: Command): { api: ApiClient; json: boolean } {
  const g = cmd.optsWithGlobals<Globals>();
  return { api: new ApiClient(socketFromHost(g.host)), json: g.output === 'json' };
}

/** One request to the agent: its body and whether to print JSON; the connection is closed. */
async function fetchApi<T>(
  cmd: Command,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<{ body: T; json: boolean }> {
  const { api, json } = client(cmd);
  try {
    return { body: await api.request<T>(method, path, opts), json };
  } finally {
    api.close();
  }
}

function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

const program = new Command('cellium')
  .description('Inspect and control the Cellium agent on this node')
  .version(celliumVersion())
  .addOption(new Option('-H, --host <uri>', 'agent API socket (unix:///path)').env('CELLIUM_HOST'))
  .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']))
  .showHelpAfterError();

program
  .command('status')
  .description('Show the agent status and the health of every cell')
  .option('--verbose', 'print the whole cell health tree')
  .option('--brief', 'only print the overall state; exit 1 unless it is Ok')
  .action(async (opts: { verbose?: boolean; brief?: boolean }, cmd: Command) => {
    const { body: s, json } = await fetchApi<Model<'StatusResponse'>>(cmd, 'GET', '/healthz', {
      headers: opts.brief ? { brief: 'true' } : {},
    });
    if (opts.brief && !json) process.stdout.write(`${s.cilium?.state ?? 'Unknown'}\n`);
    else print(s, json, () => statusText(s, opts.verbose === true));
    if (s.cilium?.state !== 'Ok') process.exitCode = 1;
  });

program
  .command('config')
  .description("Show the agent's configuration, or change options: cellium config debug=true")
  .argument('[changes...]', 'OPTION=VALUE pairs of runtime-changeable options')
  .option('--all', 'also list the immutable configuration')
  .action(async (changes: string[], opts: { all?: boolean }, cmd: Command) => {
    if (changes.length > 0) {
      const options: Record<string, string> = {};
      let enforcement: string | undefined;
      for (const c of changes) {
        const eq = c.indexOf('=');
        if (eq <= 0) throw new Error(`'${c}' is not OPTION=VALUE`);
        const [k, v] = [c.slice(0, eq), c.slice(eq + 1)];
        if (k === 'policy-enforcement' || k === 'PolicyEnforcement') enforcement = v;
        else options[k] = v;
      }
      await fetchApi(cmd, 'PATCH', '/config', {
        body: { options, ...(enforcement ? { 'policy-enforcement': enforcement } : {}) },
      });
    }
    const { body: cfg, json } = await fetchApi<Model<'DaemonConfiguration'>>(cmd, 'GET', '/config');
    print(cfg, json, () => {
      const realized = cfg.status?.realized;
      const rows = Object.entries(realized?.options ?? {}).map(([k, v]) => [k, v]);
      rows.push(['policy-enforcement', realized?.['policy-enforcement'] ?? '']);
      if (opts.all) {
        for (const [k, v] of Object.entries(cfg.status?.immutable ?? {}))
          rows.push([k, `${v} (immutable)`]);
      }
      return table(
        ['Option', 'Value'],
        rows.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? '')),
      );
    });
  });

const map = program.command('map').description('Inspect the BPF maps the agent owns');

map
  .command('list')
  .description('List the maps with their live entry counts')
  .action(async (_: unknown, cmd: Command) => {
    const { body: list, json } = await fetchApi<Model<'BPFMapList'>>(cmd, 'GET', '/map');
    print(list, json, () =>
      table(
        ['Name', 'Num entries', 'Num errors', 'Cache enabled'],
        (list.maps ?? []).map((m) => [
          m.name ?? m.path ?? '',
          String(m.entries ?? m.cache?.length ?? 0),
          String(m.errors ?? 0),
          String(m['cache-enabled'] ?? false),
        ]),
      ),
    );
  });

map
  .command('get')
  .description('Show the entries of one map, decoded')
  .argument('<name>', 'map name, e.g. cellium_lxc')
  .action(async (name: string, _: unknown, cmd: Command) => {
    const { body: m, json } = await fetchApi<Model<'BPFMap'>>(
      cmd,
      'GET',
      `/map/${encodeURIComponent(name)}`,
    );
    print(m, json, () => {
      const rows = (m.cache ?? []).map((e) => [
        e.key ?? '',
        e.value ?? '',
        e['desired-action'] ?? '',
        e['last-error'] ?? '',
      ]);
      const head = `${m.name ?? name}: ${m.path ?? ''} (${m.backend ?? '?'}, ${rows.length} entries)`;
      return rows.length === 0
        ? `${head}\nNo entries`
        : `${head}\n${table(['Key', 'Value', 'State', 'Error'], rows)}`;
    });
  });

map
  .command('events')
  .description("Show a map's recent writes")
  .argument('<name>', 'map name')
  .action(async (name: string, _: unknown, cmd: Command) => {
    const { body: events, json } = await fetchApi<Model<'MapEvent'>[]>(
      cmd,
      'GET',
      `/map/${encodeURIComponent(name)}/events`,
    );
    print(events, json, () =>
      table(
        ['Time', 'Action', 'Key', 'Value', 'Error'],
        events.map((e) => [
          e.timestamp ?? '',
          e.action ?? '',
          e.key ?? '',
          e.value ?? '',
          e['last-error'] ?? '',
        ]),
      ),
    );
  });

const endpoint = program.command('endpoint').description('Inspect the endpoints of this node');

endpoint
  .command('list')
  .description('List endpoints: id, state, identity, labels, IPs')
  .action(async (_: unknown, cmd: Command) => {
    const { body: eps, json } = await fetchApi<Model<'Endpoint'>[]>(cmd, 'GET', '/endpoint');
    print(eps, json, () =>
      table(
        ['ENDPOINT', 'STATE', 'IDENTITY', 'LABELS', 'IPv4', 'IPv6', 'POD'],
        eps.map((e) => {
          const st = e.status;
          const addr = st?.networking?.addressing?.[0] ?? {};
          const ext = st?.['external-identifiers'];
          return [
            String(e.id ?? ''),
            st?.state ?? '',
            String(st?.identity?.id ?? ''),
            (st?.labels?.['security-relevant'] ?? []).join(','),
            addr.ipv4 ?? '',
            addr.ipv6 ?? '',
            ext?.['k8s-pod-name'] ? `${ext['k8s-namespace'] ?? ''}/${ext['k8s-pod-name']}` : '',
          ];
        }),
      ),
    );
  });

endpoint
  .command('get')
  .description('Show one endpoint (id, container-id:ID, pod-name:NS/NAME, ...)')
  .argument('<id>', 'endpoint id')
  .action(async (id: string, _: unknown, cmd: Command) => {
    const { body: ep } = await fetchApi<Model<'Endpoint'>>(
      cmd,
      'GET',
      `/endpoint/${encodeURIComponent(id)}`,
    );
    process.stdout.write(`${JSON.stringify(ep, null, 2)}\n`);
  });

program
  .command('ip')
  .description('The ipcache: IPs and CIDRs with their identities')
  .command('list')
  .option('--cidr <cidr>', 'only entries within this CIDR')
  .action(async (opts: { cidr?: string }, cmd: Command) => {
    const q = opts.cidr ? `?cidr=${encodeURIComponent(opts.cidr)}` : '';
    const { body: entries, json } = await fetchApi<Model<'IPListEntry'>[]>(cmd, 'GET', `/ip${q}`);
    print(entries, json, () =>
      table(
        ['IP', 'IDENTITY', 'SOURCE', 'NAMESPACE/NAME'],
        entries.map((e) => [
          e.cidr,
          String(e.identity),
          e.metadata?.source ?? '',
          e.metadata?.name ? `${e.metadata.namespace ?? ''}/${e.metadata.name}` : '',
        ]),
      ),
    );
  });

const identity = program.command('identity').description('Security identities');

identity
  .command('list')
  .description('List identities (reserved and allocated)')
  .option('--endpoints', 'only those used by local endpoints, with reference counts')
  .action(async (opts: { endpoints?: boolean }, cmd: Command) => {
    if (opts.endpoints) {
      const { body: used, json } = await fetchApi<Model<'IdentityEndpoints'>[]>(
        cmd,
        'GET',
        '/identity/endpoints',
      );
      print(used, json, () =>
        table(
          ['ID', 'LABELS', 'REFCOUNT'],
          used.map((u) => [
            String(u.identity?.id ?? ''),
            (u.identity?.labels ?? []).join(','),
            String(u.refCount ?? 0),
          ]),
        ),
      );
      return;
    }
    const { body: ids, json } = await fetchApi<Model<'Identity'>[]>(cmd, 'GET', '/identity');
    print(ids, json, () =>
      table(
        ['ID', 'LABELS'],
        ids.map((i) => [String(i.id ?? ''), (i.labels ?? []).join(',')]),
      ),
    );
  });

identity
  .command('get')
  .description('Show one identity')
  .argument('<id>', 'numeric identity')
  .action(async (id: string, _: unknown, cmd: Command) => {
    const { body: i, json } = await fetchApi<Model<'Identity'>>(
      cmd,
      'GET',
      `/identity/${encodeURIComponent(id)}`,
    );
    print(i, json, () => `${String(i.id ?? '')}\t${(i.labels ?? []).join(',')}`);
  });

program
  .command('version')
  .description('Print the client and agent versions')
  .action(async (_: unknown, cmd: Command) => {
    const json = cmd.optsWithGlobals<Globals>().output === 'json';
    const info = (
      await fetchApi<Model<'DebugInfo'>>(cmd, 'GET', '/debuginfo').catch(() => undefined)
    )?.body;
    const v = { client: celliumVersion(), agent: info?.['cilium-version'] ?? 'unreachable' };
    print(v, json, () => `Client: ${v.client}\nAgent: ${v.agent}`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof AgentUnreachableError || e instanceof ApiClientError) {
    process.stderr.write(`Error: ${e.message}\n`);
  } else process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
