import type { Command } from 'commander';
import { celliumVersion } from '../../../core/version.js';
import { print, withClient } from './common.js';

/** `cellium version`: the client's and the agent's (`cilium-version` of GET /debuginfo). */
export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the client and agent versions')
    .action(async (_: unknown, cmd: Command) => {
      const info = await withClient(cmd, (api) => api.getDebuginfo()).catch(() => undefined);
      const v = { client: celliumVersion(), agent: info?.['cilium-version'] ?? 'unreachable' };
      print(cmd, v, () => `Client: ${v.client}\nAgent: ${v.agent}`);
    });
}
