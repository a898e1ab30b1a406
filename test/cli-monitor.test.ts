// `cellium monitor` without an agent: it says which socket it tried and why, and exits non-zero;
// bad flags are refused naming the flag.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cellium } from './support/cli.js';
import { tempDir } from './support/procs.js';

it('exits 1 naming the monitor socket when no agent serves it', async () => {
  const dir = tempDir();
  const r = await cellium(join(dir, 'cellium.sock'), 'monitor', '--type', 'drop');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    `cannot connect to the monitor socket ${join(dir, 'monitor1_2.sock')}`,
  );
  expect(r.stderr).toContain('no such socket');
});

it('refuses an unknown --type and a bad --related-to', async () => {
  const sock = join(tempDir(), 'cellium.sock');
  const t = await cellium(sock, 'monitor', '--type', 'drops');
  expect(t.code).not.toBe(0);
  expect(t.stderr).toContain(
    '--type drops: not a message type (drop, trace, policy-verdict, agent)',
  );
  const r = await cellium(sock, 'monitor', '--related-to', 'x1');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('--related-to x1: not an endpoint id');
});
