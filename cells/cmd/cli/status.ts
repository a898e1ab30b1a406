import type { Command } from 'commander';
import { print, wantsJson, withClient } from './common.js';
import { statusText } from './render.js';

/** `cellium status`: GET /healthz, as Cilium's CLI reads it. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('Show the agent status and the health of every cell')
    .option('--verbose', 'print the whole cell health tree')
    .option('--brief', 'only print the overall state; exit 1 unless it is Ok')
    .option('--all-controllers', 'list every controller, not only the failing ones')
    .action(
      async (
        opts: { verbose?: boolean; brief?: boolean; allControllers?: boolean },
        cmd: Command,
      ) => {
        const s = await withClient(cmd, (api) =>
          api.getHealthz({ headers: opts.brief ? { brief: true } : {} }),
        );
        if (opts.brief && !wantsJson(cmd))
          process.stdout.write(`${s.cilium?.state ?? 'Unknown'}\n`);
        else {
          print(cmd, s, () =>
            statusText(s, opts.verbose === true, { allControllers: opts.allControllers === true }),
          );
        }
        if (s.cilium?.state !== 'Ok') process.exitCode = 1;
      },
    );
}
