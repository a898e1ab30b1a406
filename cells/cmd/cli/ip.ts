import type { Command } from 'commander';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium ip list`: the ipcache. */
export function registerIp(program: Command): void {
  program
    .command('ip')
    .description('The ipcache: IPs and CIDRs with their identities')
    .command('list')
    .option('--cidr <cidr>', 'only entries within this CIDR')
    .action(async (opts: { cidr?: string }, cmd: Command) => {
      const entries = await withClient(cmd, (api) =>
        api.getIP({ query: opts.cidr !== undefined ? { cidr: opts.cidr } : {} }),
      );
      print(cmd, entries, () =>
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
}
