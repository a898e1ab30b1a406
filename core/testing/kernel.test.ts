// The rule of the privileged suites: skip with a reason, except under CI, where a missing
// prerequisite fails the suite (a green run must not hide a datapath that never ran).
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { kernelPrereqs, type KernelHost } from './kernel.js';

const OBJECT = fileURLToPath(new URL('../../datapath-c/build/bpf_lxc.o', import.meta.url));

const ready: KernelHost = {
  root: true,
  ci: false,
  bpffs: () => undefined,
  bpf: () => undefined,
  exists: () => true,
  onPath: () => true,
  cgroup2: () => true,
};

describe('kernelPrereqs', () => {
  it('runs when everything is there', () => {
    expect(kernelPrereqs({ objects: [OBJECT], commands: ['ip'] }, ready)).toEqual({
      run: true,
    });
  });

  it('skips without root, also under CI', () => {
    for (const ci of [false, true]) {
      expect(kernelPrereqs({}, { ...ready, root: false, ci })).toEqual({
        run: false,
        fail: false,
        missing: 'root',
        reason: 'not root',
      });
    }
  });

  it('as root, skips when a prerequisite is missing, and fails under CI', () => {
    const cases: [Partial<KernelHost>, string, RegExp][] = [
      [{ bpffs: () => 'cannot mount bpffs at /sys/fs/bpf: errno 1' }, 'bpffs', /cannot mount/],
      [{ bpf: () => 'bpf(): Operation not permitted (EPERM)' }, 'bpf()', /EPERM/],
      [
        { exists: () => false },
        'datapath-c/build/bpf_lxc.o',
        /^datapath-c\/build\/bpf_lxc\.o not built \(npm run build; it needs clang\)$/,
      ],
      [
        { onPath: (c) => c !== 'ping' },
        'ping',
        /^ping not found on PATH \(apt-get install iputils-ping\)$/,
      ],
      [{ cgroup2: () => false }, 'cgroup v2', /^no cgroup2 mount in \/proc\/mounts$/],
    ];
    for (const [broken, missing, reason] of cases) {
      for (const ci of [false, true]) {
        const v = kernelPrereqs(
          { objects: [OBJECT], commands: ['ip', 'ping'], cgroup2: true },
          { ...ready, ...broken, ci },
        );
        expect(v).toEqual({
          run: false,
          fail: ci,
          missing,
          reason: expect.stringMatching(reason) as unknown,
        });
      }
    }
  });

  it('a suite that needs no root checks only its files, and fails on them under CI', () => {
    const host = { ...ready, root: false, ci: true, bpffs: () => 'no', bpf: () => 'no' };
    expect(kernelPrereqs({ root: false, objects: [OBJECT] }, host)).toEqual({
      run: true,
    });
    expect(
      kernelPrereqs(
        { root: false, objects: ['/nonexistent/x.o'] },
        { ...host, exists: () => false },
      ),
    ).toMatchObject({ run: false, fail: true, missing: '/nonexistent/x.o' });
  });
});
