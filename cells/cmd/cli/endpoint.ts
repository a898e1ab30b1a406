import type { Command } from 'commander';
import type { Model } from '../../../core/api/types.js';
import { keyValues, print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium endpoint ...`: the endpoints of this node, as Cilium's `endpoint` commands. */
export function registerEndpoint(program: Command): Command {
  const endpoint = program
    .command('endpoint')
    .description('Inspect and manage the endpoints of this node');

  endpoint
    .command('list')
    .description('List endpoints: id, state, identity, labels, IPs')
    .action(async (_: unknown, cmd: Command) => {
      const eps = await withClient(cmd, (api) => api.getEndpoint());
      print(cmd, eps, () => endpointTable(eps));
    });

  endpoint
    .command('get')
    .description('Show one endpoint (id, container-id:ID, pod-name:NS/NAME, ...) as JSON')
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _: unknown, cmd: Command) => {
      const ep = await withClient(cmd, (api) => api.getEndpointID({ params: { id } }));
      process.stdout.write(`${JSON.stringify(ep, null, 2)}\n`);
    });

  endpoint
    .command('labels')
    .description("Show an endpoint's labels; add or delete its user labels")
    .argument('<id>', 'endpoint id')
    .option('-a, --add <label...>', 'user labels to add')
    .option('-d, --delete <label...>', 'user labels to delete')
    .action(async (id: string, opts: { add?: string[]; delete?: string[] }, cmd: Command) => {
      const labels = await withClient(cmd, async (api) => {
        if (opts.add || opts.delete) {
          const now = await api.getEndpointIDLabels({ params: { id } });
          const user = new Set(now.spec?.user ?? []);
          for (const l of opts.add ?? []) user.add(l);
          for (const l of opts.delete ?? []) user.delete(l);
          await api.patchEndpointIDLabels({ params: { id }, body: { user: [...user] } });
        }
        return api.getEndpointIDLabels({ params: { id } });
      });
      print(cmd, labels, () => labelsTable(labels));
    });

  endpoint
    .command('log')
    .description("Show an endpoint's status log")
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _: unknown, cmd: Command) => {
      const log = await withClient(cmd, (api) => api.getEndpointIDLog({ params: { id } }));
      print(cmd, log, () =>
        table(
          ['Timestamp', 'Status', 'State', 'Message'],
          log.map((c) => [c.timestamp ?? '', c.code ?? '', c.state ?? '', c.message ?? '']),
        ),
      );
    });

  endpoint
    .command('health')
    .description("Show an endpoint's health")
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _: unknown, cmd: Command) => {
      const h = await withClient(cmd, (api) => api.getEndpointIDHealthz({ params: { id } }));
      print(cmd, h, () =>
        [
          `Overall Health:   ${h.overallHealth ?? ''}`,
          `BPF Health:       ${h.bpf ?? ''}`,
          `Policy Health:    ${h.policy ?? ''}`,
          `Connected:        ${h.connected === true ? 'yes' : 'no'}`,
        ].join('\n'),
      );
    });

  endpoint
    .command('disconnect')
    .description('Disconnect an endpoint from the network (deletes it, releasing its IPs)')
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _: unknown, cmd: Command) => {
      await withClient(cmd, (api) => api.deleteEndpointID({ params: { id } }));
      print(cmd, { id, disconnected: true }, () => `Endpoint ${id} successfully disconnected`);
    });

  endpoint
    .command('config')
    .description(
      "Show an endpoint's options, or change them: cellium endpoint config 12 Debug=true",
    )
    .argument('<id>', 'endpoint id')
    .argument('[changes...]', "OPTION=VALUE pairs (Cilium's names and values)")
    .action(async (id: string, changes: string[], _: unknown, cmd: Command) => {
      const cfg = await withClient(cmd, async (api) => {
        if (changes.length > 0) {
          const options = Object.fromEntries(keyValues(changes));
          await api.patchEndpointIDConfig({ params: { id }, body: { options } });
        }
        return api.getEndpointIDConfig({ params: { id } });
      });
      print(cmd, cfg, () => {
        const rows = Object.entries(cfg.realized?.options ?? {}).map(([k, v]) => [k, v]);
        for (const [k, v] of Object.entries(cfg.immutable ?? {}))
          rows.push([k, `${v} (read-only)`]);
        return table(['Option', 'Value'], rows);
      });
    });

  endpoint
    .command('regenerate')
    .description("Regenerate an endpoint's datapath now (waits until it is done)")
    .argument('<id>', 'endpoint id')
    .action(async (id: string, _: unknown, cmd: Command) => {
      const ep = await withClient(cmd, async (api) => {
        await api.patchEndpointIDConfig({ params: { id }, body: {} });
        return api.getEndpointID({ params: { id } });
      });
      const revision = ep.status?.policy?.realized?.['policy-revision'] ?? 0;
      print(
        cmd,
        ep,
        () =>
          `Endpoint ${id} successfully regenerated (state ${ep.status?.state ?? ''}, revision ${revision})`,
      );
    });

  return endpoint;
}

/** The endpoints as `endpoint list` (and `debuginfo`) print them. */
export function endpointTable(eps: readonly Model<'Endpoint'>[]): string {
  return table(
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
  );
}

function labelsTable(l: Model<'LabelConfiguration'>): string {
  const st = l.status;
  const rows: string[][] = [];
  const add = (labels: readonly string[] | undefined, kind: string): void => {
    for (const label of labels ?? []) rows.push([label, kind]);
  };
  add(st?.realized?.user, 'user');
  add(st?.['security-relevant'], 'security-relevant');
  add(
    (st?.derived ?? []).filter((x) => !(st?.['security-relevant'] ?? []).includes(x)),
    'derived',
  );
  add(st?.disabled, 'disabled');
  return rows.length === 0 ? 'No labels' : table(['LABEL', 'KIND'], rows);
}
