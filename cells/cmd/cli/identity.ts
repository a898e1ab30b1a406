import type { Command } from 'commander';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium identity list|get`: security identities. */
export function registerIdentity(program: Command): void {
  const identity = program.command('identity').description('Security identities');

  identity
    .command('list')
    .description('List identities (reserved and allocated)')
    .option('--endpoints', 'only those used by local endpoints, with reference counts')
    .action(async (opts: { endpoints?: boolean }, cmd: Command) => {
      if (opts.endpoints) {
        const used = await withClient(cmd, (api) => api.getIdentityEndpoints());
        print(cmd, used, () =>
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
      const ids = await withClient(cmd, (api) => api.getIdentity());
      print(cmd, ids, () =>
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
      const i = await withClient(cmd, (api) => api.getIdentityID({ params: { id } }));
      print(cmd, i, () => `${String(i.id ?? '')}\t${(i.labels ?? []).join(',')}`);
    });
}
