import { mkdirSync, renameSync, symlinkSync, watch as fsWatch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { eventually } from '../../core/testing/test-hive.js';
import { policyText, testDir } from './fixtures.js';
import type { PeeringPolicy } from './policy-file.js';
import { PolicyWatcher } from './policy-watch.js';

const HOUR = 3_600_000;

function watch(file: string, periodMs = HOUR) {
  const seen: (readonly PeeringPolicy[])[] = [];
  const errors: string[] = [];
  const w = new PolicyWatcher({
    file,
    periodMs,
    onPolicies: (p) => seen.push(p),
    onError: (e) => errors.push(e.message),
  });
  w.start();
  onTestFinished(() => w.stop());
  return { seen, errors };
}

const asn = (p: readonly PeeringPolicy[] | undefined): number | undefined =>
  p?.[0]?.virtualRouters[0]?.localAsn;

function policy(localASN: number): string {
  return policyText({ localASN }, []);
}

describe('the policy file watcher', () => {
  it("follows a ConfigMap mount's ..data swap (fs.watch alone: the stat is an hour away)", async () => {
    const dir = testDir();
    // The kubelet's layout: the key is a link through ..data to a timestamped directory.
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'bgp.yaml'), policy(65001));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'bgp.yaml'), join(dir, 'bgp.yaml'));
    const { seen } = watch(join(dir, 'bgp.yaml'));
    expect(asn(seen.at(-1))).toBe(65001);

    mkdirSync(join(dir, '..v2'));
    writeFileSync(join(dir, '..v2', 'bgp.yaml'), policy(65002));
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await eventually(() => asn(seen.at(-1)) === 65002);
  });

  it('reports a missing or invalid file once, keeps quiet while it stays so, reads it when fixed', async () => {
    const dir = testDir();
    const file = join(dir, 'bgp.yaml');
    const { seen, errors } = watch(file, 20);
    expect(errors).toEqual([`${file}: no such file`]);
    writeFileSync(file, policy(65001));
    await eventually(() => asn(seen.at(-1)) === 65001);
    writeFileSync(file, policy(0));
    await eventually(() => errors.length === 2);
    expect(errors[1]).toContain('localASN: 0 is not an integer in 1..4294967295');
    expect(seen).toHaveLength(1);
    writeFileSync(file, policy(65003));
    await eventually(() => asn(seen.at(-1)) === 65003);
    expect(errors).toHaveLength(2);
  });

  it('an in-place rewrite (truncate, then write) is read once written, never as an empty file', async () => {
    const dir = testDir();
    const file = join(dir, 'bgp.yaml');
    writeFileSync(file, policy(65001));
    const { seen, errors } = watch(file);
    expect(asn(seen.at(-1))).toBe(65001);
    // Registered after the watcher's: runs once the watcher has seen the truncation, and
    // writes the new text only then (as cp does, a moment later).
    let written = false;
    const own = fsWatch(dir, () => {
      if (written) return;
      written = true;
      writeFileSync(file, policy(65002));
    });
    onTestFinished(() => own.close());
    writeFileSync(file, '');
    await eventually(() => asn(seen.at(-1)) === 65002);
    // Before: [65001, [] (no policies: every session torn down), 65002].
    expect(seen.map(asn)).toEqual([65001, 65002]);
    expect(errors).toEqual([]);
  });

  it('refuses a file that is not UTF-8 (and keeps the last good policies)', async () => {
    const file = join(testDir(), 'bgp.yaml');
    writeFileSync(file, policy(65001));
    const { seen, errors } = watch(file, 20);
    // Latin-1 'é' in the policy's name: read as UTF-8 it became U+FFFD, silently.
    const latin1 = Buffer.from(
      policyText({ localASN: 65002 }, []).replace('"test"', '"t\u00e9st"'),
      'latin1',
    );
    writeFileSync(file, latin1);
    await eventually(() => errors.length === 1);
    expect(errors).toEqual([`${file}: not UTF-8 text`]);
    expect(seen.map(asn)).toEqual([65001]);
  });
});
