import type { Command } from 'commander';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium cgroups list`: the pods' cgroups (GET /cgroup-dump-metadata), as Cilium's. */
export function registerCgroups(program: Command): void {
  const cgroups = program.command('cgroups').description('Cgroup metadata of the pods');
  cgroups
    .command('list')
    .alias('ls')
    .description('Display the cgroup ids of the pods (-o json: with their paths)')
    .option('--no-headers', 'do not print headers')
    .action(async (opts: { headers: boolean }, cmd: Command) => {
      const dump = await withClient(cmd, (api) => api.getCgroupDumpMetadata());
      const pods = dump['pod-metadatas'] ?? [];
      // Like Cilium's: -o json prints the pod list itself.
      print(cmd, pods, () => {
        const rows = pods.flatMap((p) => {
          const ids = (p.containers ?? []).map((c) => String(c['cgroup-id'] ?? ''));
          // A pod whose cgroup was not found still gets its line (Cilium prints none).
          return (ids.length > 0 ? ids : ['-']).map((id, i) =>
            i === 0 ? [p.name ?? '', p.namespace ?? '', id] : ['', '', id],
          );
        });
        const text = table(['POD NAME', 'POD NAMESPACE', 'CGROUP IDS'], rows);
        return opts.headers ? text : text.split('\n').slice(1).join('\n');
      });
    });
}
