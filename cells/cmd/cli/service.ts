import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { ApiClientError } from '../../../core/api/client.js';
import type { Model } from '../../../core/api/types.js';
import { print, wantsJson, withClient } from './common.js';
import { table } from './render.js';
import {
  DEFAULT_WEIGHT,
  hostPort,
  msg,
  parseServiceId,
  serviceSpec,
  TYPE_FLAGS,
  updatePlan,
  type UpdateOptions,
} from './service-spec.js';

type Service = Model<'Service'>;
type ServiceSpec = Model<'ServiceSpec'>;
type Frontend = Model<'FrontendAddress'>;
type Backend = Model<'BackendAddress'>;

/** A frontend as the CLI prints it: `IP:PORT/PROTO`, `[IPv6]:PORT/PROTO`, `/i` if internal. */
export function frontendText(fe: Frontend): string {
  const proto = fe.protocol ? `/${fe.protocol.toUpperCase()}` : '';
  const scope = fe.scope === 'internal' ? '/i' : '';
  return `${hostPort(fe.ip ?? '', fe.port ?? 0)}${proto}${scope}`;
}

/** A backend's address, with the protocol of its service's frontend. */
export function backendText(be: Backend, protocol?: string): string {
  return `${hostPort(be.ip, be.port ?? 0)}${protocol ? `/${protocol.toUpperCase()}` : ''}`;
}

/** The spec the agent realized, else the one it was given. */
function specOf(svc: Service): ServiceSpec | undefined {
  return svc.status?.realized ?? svc.spec;
}

function typeText(spec: ServiceSpec): string {
  return `${spec.flags?.type ?? ''}${spec.flags?.cluster ? ' (Remote)' : ''}`;
}

/** `service list`: one row per backend, numbered, the service's columns on its first; by id. */
export function serviceListText(list: readonly Service[]): string {
  const specs = list.flatMap((s) => specOf(s) ?? []).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  const rows = specs.flatMap((spec) => {
    const fe = spec['frontend-address'];
    const cols = [String(spec.id ?? ''), frontendText(fe), typeText(spec)];
    const bes = (spec['backend-addresses'] ?? []).map(
      (be, i) => `${i + 1} => ${backendText(be, fe.protocol)} (${be.state ?? 'active'})`,
    );
    if (bes.length === 0) return [[...cols, '']];
    return bes.map((be, i) => [...(i === 0 ? cols : ['', '', '']), be]);
  });
  return table(['ID', 'Frontend', 'Service Type', 'Backend'], rows);
}

/** `service get`: the realized spec, one field a line, then its backends. */
export function serviceText(svc: Service): string {
  const spec = specOf(svc);
  if (!spec) return 'Service has no spec';
  const fe = spec['frontend-address'];
  const f = spec.flags ?? {};
  const lines: [string, string | number | undefined][] = [
    ['ID', spec.id],
    ['Frontend', frontendText(fe)],
    ['Scope', fe.scope],
    ['Service Type', typeText(spec)],
    ['External Traffic Policy', f.extTrafficPolicy ?? f.trafficPolicy],
    ['Internal Traffic Policy', f.intTrafficPolicy],
    ['NAT Policy', f.natPolicy],
    ['Health Check Node Port', f.healthCheckNodePort || undefined],
    ['Name', f.name ? `${f.namespace ? `${f.namespace}/` : ''}${f.name}` : undefined],
    ['Cluster', f.cluster],
    [
      'Session Affinity',
      f.sessionAffinity ? `ClientIP, ${f.sessionAffinityTimeout ?? 10800}s` : undefined,
    ],
    ['Source Ranges', f.loadBalancerSourceRanges?.join(', ')],
    ['Algorithm', f.algorithm],
  ];
  const bes = (spec['backend-addresses'] ?? []).map((be, i) => {
    const notes = [
      be.state ?? 'active',
      `weight ${be.weight ?? DEFAULT_WEIGHT}`,
      ...(be.nodeName ? [`node ${be.nodeName}`] : []),
      ...(be.zone ? [`zone ${be.zone}`] : []),
    ];
    return `  ${i + 1} => ${backendText(be, fe.protocol)} (${notes.join(', ')})`;
  });
  return [
    ...lines.flatMap(([k, v]) =>
      v === undefined || v === '' ? [] : [`${`${k}:`.padEnd(25)}${v}`],
    ),
    bes.length === 0 ? 'Backends:                none' : 'Backends:',
    ...bes,
  ].join('\n');
}

/** Reads backends from `input`, one per line (blank lines skipped), as `service update` does. */
export async function readBackendLines(input: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (line.trim() !== '') out.push(line.trim());
  }
  return out;
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

/** `--backends a,b --backends c`: repeatable and comma-separated, as cobra's string slices. */
function collect(v: string, prev: readonly string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim())].filter((s) => s !== '');
}

/** `cellium service list|get|update|delete`: the load balancer's services (Cilium's commands). */
export function registerService(program: Command): void {
  const service = program.command('service').description('Manage services & loadbalancers');

  service
    .command('list')
    .alias('ls')
    .description('List services')
    .action(async (_: unknown, cmd: Command) => {
      const list = await withClient(cmd, (api) =>
        doing('Cannot get services list', api.getService()),
      );
      print(cmd, list, () => serviceListText(list));
    });

  service
    .command('get')
    .description('Display service information')
    .argument('<id>', 'service id')
    .action(async (arg: string, _: unknown, cmd: Command) => {
      const id = parseServiceId(arg);
      const svc = await withClient(cmd, (api) =>
        doing(`Cannot get service '${id}'`, api.getServiceID({ params: { id } })),
      );
      print(cmd, svc, () => serviceText(svc));
    });

  const update = service
    .command('update')
    .description('Update a service (created if there is none with the id)')
    .requiredOption('--id <n>', 'Identifier')
    .requiredOption('--frontend <ip:port>', 'Frontend address')
    .option('--backends <ip:port>', 'Backend address or addresses (<IP:Port>)', collect)
    .option('--states <state>', 'Backend state(s) as {active(default),terminating,...}', collect)
    .option('--backend-weights <w>', 'Backend weights (100 default, 0: maintenance)', collect)
    .option('--k8s-cluster-internal', 'Set service as cluster-internal (frontend scope internal)')
    .option('--k8s-traffic-policy <p>', 'Same as --k8s-ext-traffic-policy (older name)')
    .option('--k8s-ext-traffic-policy <p>', 'k8s externalTrafficPolicy as {Local,Cluster}')
    .option('--k8s-int-traffic-policy <p>', 'k8s internalTrafficPolicy as {Local,Cluster}')
    .option('--protocol <p>', 'Protocol of the frontend: tcp (default), udp or any')
    .option('--name <name>', 'Service name')
    .option('--namespace <ns>', 'Service namespace')
    .option('--backend-nodes <name>', 'Node of each backend (externalTrafficPolicy=Local)', collect)
    .option('--session-affinity-timeout <s>', 'Keep a client on its backend (ClientIP), seconds')
    .option('--source-ranges <cidr>', 'CIDRs allowed to reach a LoadBalancer service', collect)
    .option('--lb-algorithm <a>', "This service's backend selection: random or maglev");
  for (const [, flag, , what] of TYPE_FLAGS) update.option(flag, `Set service as ${what}`);
  update.action(async (opts: UpdateOptions, cmd: Command) => {
    const plan = updatePlan(opts);
    // With -o json only the service goes to stdout.
    const say = (s: string): boolean =>
      (wantsJson(cmd) ? process.stderr : process.stdout).write(`${s}\n`);
    await withClient(cmd, async (api) => {
      const params = { id: plan.id };
      const existing = await doing(
        `Cannot get service '${plan.id}'`,
        api.getServiceID({ params }),
      ).catch((e: unknown) => {
        if (e instanceof ApiClientError && e.status === 404) return undefined;
        throw e;
      });
      const realized = existing?.status?.realized;
      if (existing && !realized) throw new Error(`Cannot update service ${plan.id}: empty state`);
      say(`${realized ? 'Updating existing' : 'Creating new'} service with id '${plan.id}'`);
      let backends = opts.backends ?? [];
      if (backends.length === 0) {
        say('Reading backend list from stdin...');
        backends = await readBackendLines(process.stdin);
      }
      const spec = serviceSpec(plan, backends, realized);
      await doing('Cannot add/update service', api.putServiceID({ params, body: spec }));
      const n = spec['backend-addresses']?.length ?? 0;
      if (wantsJson(cmd)) print(cmd, await api.getServiceID({ params }), () => '');
      else say(`${realized ? 'Updated' : 'Added'} service with ${n} backends`);
    });
  });

  service
    .command('delete')
    .description('Delete a service')
    .argument('[id]', 'service id')
    .option('--all', 'Delete all services')
    .action(async (arg: string | undefined, opts: { all?: boolean }, cmd: Command) => {
      if ((arg === undefined) === (opts.all !== true)) {
        throw new Error('give a service id or --all: delete { <service id> | --all }');
      }
      const deleted = await withClient(cmd, async (api) => {
        if (arg !== undefined) {
          const id = parseServiceId(arg);
          await doing(`Cannot delete service '${id}'`, api.deleteServiceID({ params: { id } }));
          return [id];
        }
        const ids: number[] = [];
        for (const svc of await doing('Cannot get services list', api.getService())) {
          const id = specOf(svc)?.id;
          if (id === undefined) {
            process.stderr.write('Skipping service due to empty state\n');
            continue;
          }
          try {
            await api.deleteServiceID({ params: { id } });
            ids.push(id);
          } catch (e) {
            // Gone already is what --all wants; anything else is reported, the rest still go.
            if (e instanceof ApiClientError && e.status === 404) continue;
            process.stderr.write(`Cannot delete service '${id}': ${msg(e)}\n`);
            process.exitCode = 1;
          }
        }
        return ids;
      });
      if (wantsJson(cmd) || deleted.length > 0) {
        print(cmd, { deleted }, () =>
          deleted.map((id) => `Service ${id} deleted successfully`).join('\n'),
        );
      }
    });
}
