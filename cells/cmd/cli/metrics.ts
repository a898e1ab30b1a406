import type { Command } from 'commander';
import type { Model } from '../../../core/api/types.js';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** Labels as Cilium's `metrics list` prints them: `k1="v1" k2="v2"`, sorted by name. */
function labelText(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(' ');
}

/** `cellium metrics list`: GET /metrics/ as a table, or JSON; `-p` keeps names matching a regexp. */
export function registerMetrics(program: Command): void {
  const metrics = program.command('metrics').description('Access the agent’s metrics');
  metrics
    .command('list')
    .alias('ls')
    .description('List the agent’s metrics (name, labels, value)')
    .option('-p, --match-pattern <regexp>', 'only metrics whose name matches this regexp')
    .action(async (opts: { matchPattern?: string }, cmd: Command) => {
      let re: RegExp | undefined;
      if (opts.matchPattern !== undefined) {
        try {
          re = new RegExp(opts.matchPattern);
        } catch (e) {
          throw new Error(`--match-pattern: ${(e as Error).message}`);
        }
      }
      const all = await withClient(cmd, (api) => api.getMetrics());
      const list: Model<'Metric'>[] = re ? all.filter((m) => re.test(m.name ?? '')) : all;
      print(cmd, list, () =>
        table(
          ['NAME', 'LABELS', 'VALUE'],
          list.map((m) => [m.name ?? '', labelText(m.labels ?? {}), String(m.value ?? 0)]),
        ),
      );
    });
}
