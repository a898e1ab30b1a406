import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { Model } from '../../../core/api/types.js';
import { print, wantsJson, withClient } from './common.js';
import { table } from './render.js';

type BpfMap = Model<'BPFMap'>;
type MapEvent = Model<'MapEvent'>;

/** A map's name as Cilium's CLI shows it: the base name of its pin path. */
function mapName(m: BpfMap): string {
  return m.path ? basename(m.path) : (m.name ?? '');
}

/** `map list`: entries and errors counted from each map's cache, as Cilium's CLI does. */
export function mapListText(list: Model<'BPFMapList'>): string {
  return table(
    ['Name', 'Num entries', 'Num errors', 'Cache enabled'],
    (list.maps ?? []).map((m) => [
      mapName(m),
      String(m.cache?.length ?? 0),
      String((m.cache ?? []).filter((e) => (e['last-error'] ?? '') !== '').length),
      String(m.cache !== undefined),
    ]),
  );
}

/** `map get`: the cache's entries, or why there are none. */
export function mapEntriesText(m: BpfMap): string {
  if (m.cache === undefined) return 'Cache is disabled';
  if (m.cache.length === 0) return 'Cache is empty';
  return table(
    ['Key', 'Value', 'State', 'Error'],
    m.cache.map((e) => [
      e.key ?? '',
      e.value ?? '',
      e['desired-action'] ?? '',
      e['last-error'] ?? '',
    ]),
  );
}

/** One event as Cilium's `map events` prints it (quoted, escaped fields). */
export function mapEventText(e: MapEvent): string {
  const q = (s: string | undefined): string => JSON.stringify(s ?? '');
  return (
    `key=${q(e.key)} value=${q(e.value)} time=${e.timestamp ?? ''} action=${e.action ?? ''} ` +
    `desiredState=${e['desired-action'] ?? ''} lastError=${q(e['last-error'])}`
  );
}

/** Reads a stream of JSON objects, one per line, calling `each` as each arrives. */
async function readEvents(body: Readable, each: (e: MapEvent) => void): Promise<void> {
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let e: MapEvent;
    try {
      e = JSON.parse(line) as MapEvent;
    } catch (err) {
      throw new Error(`error while reading the event stream: ${(err as Error).message}`);
    }
    each(e);
  }
}

/** `cellium map list|get|events`: the BPF maps the agent owns, their caches and events. */
export function registerMap(program: Command): void {
  const map = program.command('map').description('Access the caches and events of BPF maps');

  map
    .command('list')
    .description('List the open BPF maps (entries and errors counted from each cache)')
    .option('--verbose', 'print the cache of every map')
    .action(async (opts: { verbose?: boolean }, cmd: Command) => {
      const list = await withClient(cmd, (api) => api.getMap());
      print(cmd, list, () =>
        opts.verbose
          ? (list.maps ?? []).map((m) => `## Map: ${mapName(m)}\n${mapEntriesText(m)}\n`).join('\n')
          : mapListText(list),
      );
    });

  map
    .command('get')
    .description('Display the cache of a BPF map')
    .argument('<name>', 'map name, e.g. cellium_ipcache')
    .action(async (name: string, _: unknown, cmd: Command) => {
      const m = await withClient(cmd, (api) => api.getMapName({ params: { name } }));
      print(cmd, m, () => mapEntriesText(m));
    });

  map
    .command('events')
    .description('Display the recent events of a BPF map; -f streams new ones as they happen')
    .argument('<name>', 'map name, e.g. cellium_ipcache')
    .option('-f, --follow', 'keep streaming events until interrupted')
    .action(async (name: string, opts: { follow?: boolean }, cmd: Command) => {
      const json = wantsJson(cmd);
      await withClient(cmd, async (api) => {
        const body = await api.getMapNameEvents({
          params: { name },
          query: { follow: opts.follow === true },
        });
        const interrupt = (): void => {
          process.stderr.write('\nReceived an interrupt, disconnecting from event stream...\n\n');
          body.destroy();
        };
        process.once('SIGINT', interrupt);
        try {
          await readEvents(body, (e) => {
            process.stdout.write(`${json ? JSON.stringify(e) : mapEventText(e)}\n`);
          });
        } catch (e) {
          if (!body.destroyed) throw e;
        } finally {
          process.off('SIGINT', interrupt);
        }
      });
    });
}
