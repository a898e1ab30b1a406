// bpffs set-up on a machine where /sys/fs/bpf is not mounted yet (a fresh node): the agent
// mounts it there, as Cilium does, instead of looping in mkdir on sysfs. Run in a private mount
// namespace (unshare -m) so the machine's own /sys/fs/bpf is never unmounted.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { moduleUrl, runTs } from '../testing/child.js';
import { kernelSuite } from '../testing/kernel.js';
import { mkdirs } from './bpffs.js';

kernelSuite('bpffs set-up', { commands: ['unshare', 'umount'] }, () => {
  it('mkdirs names the directory sysfs refuses (no endless loop)', () => {
    const dir = `/sys/cellium-test-${randomBytes(3).toString('hex')}`;
    expect(() => mkdirs(`${dir}/a/b`)).toThrow(new RegExp(`cannot create ${dir}: E[A-Z]+`));
  });

  it('mounts bpffs at an unmounted /sys/fs/bpf for a --bpf-root below it', () => {
    const bpfRoot = `/sys/fs/bpf/cellium-test-${randomBytes(3).toString('hex')}/node1`;
    // Everything mounted here dies with the child's mount namespace.
    const r = runTs(
      `import { statfsSync, statSync } from 'node:fs';\n` +
        `import { ensureBpffs, onBpffs } from ${JSON.stringify(moduleUrl('bpf/bpffs.ts'))};\n` +
        `const before = onBpffs('/sys/fs/bpf');\n` +
        `ensureBpffs(${JSON.stringify(bpfRoot)});\n` +
        `console.log(JSON.stringify({ before, after: statfsSync('/sys/fs/bpf').type.toString(16),` +
        ` dir: statSync(${JSON.stringify(bpfRoot)}).isDirectory() }));\n`,
      [],
      [
        'unshare',
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        'umount -R /sys/fs/bpf 2>/dev/null; exec "$@"',
        'sh',
      ],
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: 'cafe4a11', dir: true });
  });
});
