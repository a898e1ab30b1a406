import type { Command } from 'commander';
import { print, wantsJson, withClient } from './common.js';
import { clusterHealthText, healthHostOption, readHealthStatus } from './health.js';
import { statusText } from './render.js';

/** `cellium status`: GET /healthz, as Cilium's CLI reads it. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Show the agent status and the health of every cell')
    .option('--verbose', 'print the whole cell health tree')
    .option('--brief', 'only print the overall state; exit 1 unless it is Ok')
    .option('--all-health', 'list every node the health probes reach, and how')
    .option('--all-controllers', 'list every controller, not only the failing ones')
    .addOption(healthHostOption())
    .action(
      async (
        opts: { verbose?: boolean; brief?: boolean; allHealth?: boolean; allControllers?: boolean },
        cmd: Command,
      ) => {
        const s = await withClient(cmd, (api) =>
          api.getHealthz({ headers: opts.brief ? { brief: true } : {} }),
        );
        if (opts.brief && !wantsJson(cmd))
          process.stdout.write(`${s.cilium?.state ?? 'Unknown'}\n`);
        else {
          // As Cilium's: the cluster's health from the health API, when it runs.
          const enabled = s.cluster?.ciliumHealth?.state !== 'Disabled' && !wantsJson(cmd);
          const health = enabled
            ? await readHealthStatus(cmd, false).catch(() => undefined)
            : undefined;
          print(cmd, s, () => {
            const text = statusText(s, opts.verbose === true, {
              allControllers: opts.allControllers === true,
            });
            if (health) {
              const details = opts.verbose === true || opts.allHealth === true;
              return `${text}\n${clusterHealthText(health, details, opts.allHealth === true)}`;
            }
            const h = s.cluster?.ciliumHealth;
            return `${text}\n${'Cluster health:'.padEnd(20)}${h?.state ?? 'Unknown'}   ${h?.msg ?? ''}`.trimEnd();
          });
        }
        if (s.cilium?.state !== 'Ok') process.exitCode = 1;
      },
    );
}
