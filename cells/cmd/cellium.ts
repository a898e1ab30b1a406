#!/usr/bin/env node
// cellium: the operator's CLI over the agent's REST API on its unix socket. The command groups
// live in cli/<group>.ts (registered in cli/program.ts) and talk to the agent through the typed
// client generated from the spec.
import { runCli } from './cli/program.js';

// A reader that stops early (`cellium service list | head -1`) is not an error: exit quietly.
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

process.exitCode = await runCli(process.argv.slice(2));
