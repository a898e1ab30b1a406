import { InvalidArgumentError, type Command } from 'commander';
import type { Model } from '../../../core/api/types.js';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** `--cidr` repeats and takes comma-separated lists, as cilium-dbg's string slice does. */
function collect(v: string, prev: string[] = []): string[] {
  return [
    ...prev,
    ...v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  ];
}

function revision(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new InvalidArgumentError(`'${v}' is not a revision (a non-negative integer)`);
  }
  return Number(v);
}

/** The list as `cellium prefilter list` prints it: the revision, then one CIDR per row. */
export function renderPrefilter(m: Model<'Prefilter'>): string {
  const realized = m.status?.realized ?? m.spec ?? {};
  const rows = (realized.deny ?? []).map((c) => [c]);
  return `Revision: ${realized.revision ?? 0}\n${table(['DENY CIDR'], rows)}`;
}

/** `cellium prefilter list|update|delete`: the XDP deny list (cilium-dbg prefilter). */
export function registerPrefilter(program: Command): void {
  const group = program.command('prefilter').description('Manage XDP CIDR filters');
  group
    .command('list')
    .alias('ls')
    .description('List CIDR filters')
    .action(async (_: unknown, cmd: Command) => {
      const m = await withClient(cmd, (api) => api.getPrefilter());
      print(cmd, m, () => renderPrefilter(m));
    });
  for (const [name, verb, past] of [
    ['update', 'block', 'Updated'],
    ['delete', 'delete', 'Deleted'],
  ] as const) {
    group
      .command(name)
      .description(`${name === 'update' ? 'Update' : 'Delete'} CIDR filters`)
      .option('--cidr <cidr>', `CIDR prefixes to ${verb} (repeat, or comma-separated)`, collect)
      .option('--revision <n>', 'the revision this change is based on (0: any)', revision, 0)
      .action(async (opts: { cidr?: string[]; revision: number }, cmd: Command) => {
        const body = { revision: opts.revision, deny: opts.cidr ?? [] };
        const m = await withClient(cmd, (api) =>
          name === 'update' ? api.patchPrefilter({ body }) : api.deletePrefilter({ body }),
        );
        print(
          cmd,
          m,
          () =>
            `${past} ${body.deny.length} prefilter entries (revision ${m.status?.realized?.revision ?? m.spec?.revision ?? 0})`,
        );
      });
  }
}
