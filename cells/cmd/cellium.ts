#!/usr/bin/env node
// cellium: the operator's CLI over the agent's REST API on its unix socket. Each command group
// lives in cli/<group>.ts and talks to the agent through the typed client generated from the spec.
import { Command, Option } from 'commander';
import { celliumVersion } from '../../core/version.js';
import { registerConfig } from './cli/config.js';
import { registerEndpoint } from './cli/endpoint.js';
import { registerIdentity } from './cli/identity.js';
import { registerIp } from './cli/ip.js';
import { registerMap } from './cli/map.js';
import { registerStatus } from './cli/status.js';
import { registerVersion } from './cli/version.js';

const program = new Command('cellium')
  .description('Inspect and control the Cellium agent on this node')
  .version(celliumVersion())
  .addOption(new Option('-H, --host <uri>', 'agent API socket (unix:///path)').env('CELLIUM_HOST'))
  .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']))
  .showHelpAfterError();

registerStatus(program);
registerConfig(program);
registerMap(program);
registerEndpoint(program);
registerIp(program);
registerIdentity(program);
registerVersion(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
