// <state-dir>/bgp-state.json: written when BGP runs with routers, so that the next start knows
// it is a restart and sets the graceful restart R bit (RFC 4724 §4.1): the peers then keep the
// routes they hold from this node until it sends them again.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirDurable, removeDurable, writeFileAtomic } from '../../core/atomic-file.js';

/** The file's name in the state directory. */
export const BGP_STATE_FILE = 'bgp-state.json';

/** Whether a previous run left BGP state (this start is a graceful restart). */
export function wasRunning(stateDir: string): boolean {
  return existsSync(join(stateDir, BGP_STATE_FILE));
}

/** Records that BGP runs with routers (atomically: a crash leaves the old file or the new one). */
export function recordRunning(stateDir: string, routerId: string, asns: readonly number[]): void {
  mkdirDurable(stateDir);
  writeFileAtomic(
    join(stateDir, BGP_STATE_FILE),
    `${JSON.stringify({ routerId, asns, since: new Date().toISOString() })}\n`,
  );
}

/** Forgets the state (BGP turned off: the next start is no restart). */
export function forgetRunning(stateDir: string): void {
  removeDurable(join(stateDir, BGP_STATE_FILE));
}
