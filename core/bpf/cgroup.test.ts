// Finding the cgroup v2 mount in a mount table (no root needed).
import { expect, it } from 'vitest';
import { cgroupV2Mount } from './cgroup.js';

it('finds cgroup2 on a unified host, on a hybrid one, with escapes, and nowhere', () => {
  expect(cgroupV2Mount('sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n')).toBe(
    '/sys/fs/cgroup',
  );
  const hybrid = [
    'tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0',
    'cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0',
  ].join('\n');
  expect(cgroupV2Mount(hybrid)).toBe('/sys/fs/cgroup/unified');
  expect(cgroupV2Mount('none /mnt/my\\040cgroups cgroup2 rw 0 0')).toBe('/mnt/my cgroups');
  expect(cgroupV2Mount('cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n')).toBeUndefined();
});
