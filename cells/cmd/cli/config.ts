import type { Command } from 'commander';
import { keyValues, print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium config [OPTION=VALUE ...]`: GET /config, PATCH /config. */
export function registerConfig(program: Command): void {
  program
    .command('config')
    .description(
      "Show the agent's configuration, or change options: cellium config Debug=Enabled (Cilium's names and values, any case)",
    )
    .argument('[changes...]', 'OPTION=VALUE pairs of runtime-changeable options')
    .option('--all', 'also list the immutable configuration')
    .action(async (changes: string[], opts: { all?: boolean }, cmd: Command) => {
      const cfg = await withClient(cmd, async (api) => {
        if (changes.length > 0) {
          const options: Record<string, string> = {};
          let enforcement: string | undefined;
          for (const [k, v] of keyValues(changes)) {
            if (k.toLowerCase() === 'policy-enforcement' || k === 'PolicyEnforcement') {
              enforcement = v;
            } else options[k] = v;
          }
          await api.patchConfig({
            body: {
              options,
              ...(enforcement !== undefined
                ? { 'policy-enforcement': enforcement as 'default' | 'always' | 'never' }
                : {}),
            },
          });
        }
        return api.getConfig();
      });
      print(cmd, cfg, () => {
        const realized = cfg.status?.realized;
        const rows = Object.entries(realized?.options ?? {}).map(([k, v]) => [k, v]);
        rows.push(['PolicyEnforcement', realized?.['policy-enforcement'] ?? '']);
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
}
