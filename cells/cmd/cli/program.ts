import { Command, CommanderError, Option } from 'commander';
import { celliumVersion } from '../../../core/version.js';
import { registerBgp } from './bgp.js';
import { registerCgroups } from './cgroups.js';
import { registerConfig } from './config.js';
import { registerDebugInfo } from './debuginfo.js';
import { registerEndpoint } from './endpoint.js';
import { registerHealth } from './health.js';
import { registerIdentity } from './identity.js';
import { registerIp } from './ip.js';
import { registerMap } from './map.js';
import { registerMetrics } from './metrics.js';
import { registerMonitor } from './monitor.js';
import { registerNode } from './node.js';
import { registerNodeId } from './nodeid.js';
import { registerPolicy } from './policy.js';
import { registerPrefilter } from './prefilter.js';
import { registerService } from './service.js';
import { registerStatus } from './status.js';
import { registerVersion } from './version.js';

/** The `cellium` command with every command group registered (one file per group). */
export function cliProgram(): Command {
  const program = new Command('cellium')
    .description('Inspect and control the Cellium agent on this node')
    .version(celliumVersion())
    .addOption(
      new Option('-H, --host <uri>', 'agent API socket (unix:///path)').env('CELLIUM_HOST'),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']))
    .showHelpAfterError();
  registerStatus(program);
  registerConfig(program);
  registerMap(program);
  registerEndpoint(program);
  registerIp(program);
  registerIdentity(program);
  registerNode(program);
  registerNodeId(program);
  registerPrefilter(program);
  registerService(program);
  registerPolicy(program);
  registerBgp(program);
  registerHealth(program);
  registerCgroups(program);
  registerDebugInfo(program);
  registerMetrics(program);
  registerMonitor(program);
  registerVersion(program);
  return program;
}

/**
 * Runs the CLI on `args` (what follows the program name) and resolves with its exit code; errors
 * are printed as `Error: <message>` (the agent's message for a refused request), never thrown.
 */
export async function runCli(args: readonly string[]): Promise<number> {
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await cliProgram().exitOverride().parseAsync(args, { from: 'user' });
    return exitCode();
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    process.exitCode = before;
  }
}

/** The exit code a command set (a separate read: TypeScript narrows process.exitCode). */
function exitCode(): number {
  const c = process.exitCode;
  return c === undefined ? 0 : Number(c);
}
