// A TypeScript module run in a child process, for tests that need a fresh process (libbpf's
// printer before it loads, a namespace entered with nsenter or unshare, a crash to survive).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

/** The repository root: where the child runs, so `--import tsx` resolves. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A module in `core/` as a URL a child script can import (`moduleUrl('net/index.ts')`). */
export function moduleUrl(pathInCore: string): string {
  return new URL(`../${pathInCore}`, import.meta.url).href;
}

/**
 * Runs `source` (a TypeScript module) with tsx in a child process, synchronously, with `args`;
 * `prefix` runs it under another command (`['nsenter', '--net=…']`, `['unshare', '-m', …]`,
 * which get the node command line after it). The file is removed when the test finishes.
 */
export function runTs(
  source: string,
  args: readonly string[] = [],
  prefix: readonly string[] = [],
): SpawnSyncReturns<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cellium-child-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'child.ts');
  writeFileSync(script, source);
  const [cmd = '', ...rest] = [...prefix, process.execPath, '--import', 'tsx', script, ...args];
  return spawnSync(cmd, rest, { cwd: ROOT, encoding: 'utf8' });
}
