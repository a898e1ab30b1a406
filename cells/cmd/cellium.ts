#!/usr/bin/env node
// cellium: the operator's CLI over the agent's REST API on its unix socket. The command groups
// live in cli/<group>.ts (registered in cli/program.ts) and talk to the agent through the typed
// client generated from the spec.
import { runCli } from './cli/program.js';

process.exitCode = await runCli(process.argv.slice(2));
