import type { Command } from 'commander';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium map list|get|events`: the BPF maps the agent owns. */
export function registerMap(program: Command): void {
  const map = program.command('map').description('Inspect the BPF maps the agent owns');

  map
    .command('list')
    .description('List the maps with their live entry counts')
    .action(async (_: unknown, cmd: Command) => {
      const list = await withClient(cmd, (api) => api.getMap());
      print(cmd, list, () =>
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
      const m = await withClient(cmd, (api) => api.getMapName({ params: { name } }));
      print(cmd, m, () => {
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
      const events = await withClient(cmd, (api) => api.getMapNameEvents({ params: { name } }));
      print(cmd, events, () =>
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
}
