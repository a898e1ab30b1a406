import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CgroupFinder, containerIdOf, parseProcCgroup } from './finder.js';
import { cgroupDump, type CgroupEndpoint } from './metadata.js';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const ID_C = 'c'.repeat(64);

function tree(dirs: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'cellium-cgroup-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  return root;
}

function ep(id: number, more: Partial<CgroupEndpoint>): CgroupEndpoint {
  return {
    id,
    containerId: '',
    containerName: '',
    k8sNamespace: '',
    k8sPodName: '',
    ipv4: '',
    ipv6: '',
    ...more,
  };
}

describe('cgroup names', () => {
  it("reads the container id out of each runtime's directory name", () => {
    expect(containerIdOf(`cri-containerd-${ID_A}.scope`)).toBe(ID_A);
    expect(containerIdOf(`crio-${ID_A}.scope`)).toBe(ID_A);
    expect(containerIdOf(`crio-${ID_A}`)).toBe(ID_A);
    expect(containerIdOf(`docker-${ID_A}.scope`)).toBe(ID_A);
    expect(containerIdOf(`libpod-${ID_A}.scope`)).toBe(ID_A);
    expect(containerIdOf(ID_A)).toBe(ID_A);
    expect(containerIdOf(`crio-conmon-${ID_A}.scope`)).toBeUndefined();
    expect(containerIdOf('kubepods-besteffort.slice')).toBeUndefined();
    expect(containerIdOf('system.slice')).toBeUndefined();
  });

  it('reads the cgroup v2 line of /proc/<pid>/cgroup', () => {
    expect(parseProcCgroup('12:memory:/x\n0::/kubepods/pod1/abc\n')).toBe('/kubepods/pod1/abc');
    expect(parseProcCgroup('0::/gone (deleted)\n')).toBe('/gone');
    expect(parseProcCgroup('4:memory:/only-v1\n')).toBeUndefined();
  });
});

describe('cgroup dump', () => {
  it('finds containers under systemd and cgroupfs layouts, pids from /proc, and lists the rest empty', () => {
    const root = tree([
      `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-${ID_A}.scope`,
      `kubepods/burstable/pod2/${ID_B}`,
      'user.slice/session-1.scope',
    ]);
    const proc = tree(['4242', '4343']);
    writeFileSync(join(proc, '4242', 'cgroup'), '0::/user.slice/session-1.scope\n');
    // A stale pid, now another process's: not the cgroup of endpoint 6's container.
    writeFileSync(join(proc, '4343', 'cgroup'), '0::/user.slice/session-1.scope\n');
    const f = new CgroupFinder(root, { maxDepth: 10, maxDirs: 1000, rescanMs: 1000 }, proc);
    const dump = cgroupDump(
      [
        ep(1, { containerId: ID_A, k8sPodName: 'web', k8sNamespace: 'default', ipv4: '10.0.0.1' }),
        ep(2, { containerId: ID_B, k8sPodName: 'db', k8sNamespace: 'prod', ipv6: 'fd00::2' }),
        ep(3, { pid: 4242, containerName: 'host-proc', ipv4: '10.0.0.3' }),
        ep(4, { containerId: ID_C, k8sPodName: 'lost', k8sNamespace: 'default' }),
        // A second interface of pod web: one pod entry, both IPs, the cgroup once.
        ep(5, { containerId: ID_A, k8sPodName: 'web', k8sNamespace: 'default', ipv4: '10.1.0.1' }),
        ep(6, { pid: 4343, containerId: ID_B, k8sPodName: 'db', k8sNamespace: 'prod' }),
      ],
      f,
    );
    const at = (rel: string) => ({
      'cgroup-id': Number(statSync(join(root, rel), { bigint: true }).ino),
      'cgroup-path': join(root, rel),
    });
    expect(dump['pod-metadatas']).toEqual([
      {
        name: 'web',
        namespace: 'default',
        ips: ['10.0.0.1', '10.1.0.1'],
        containers: [
          at(
            `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-${ID_A}.scope`,
          ),
        ],
      },
      {
        name: 'db',
        namespace: 'prod',
        ips: ['fd00::2'],
        containers: [at(`kubepods/burstable/pod2/${ID_B}`)],
      },
      {
        name: 'host-proc',
        namespace: '',
        ips: ['10.0.0.3'],
        containers: [at('user.slice/session-1.scope')],
      },
      { name: 'lost', namespace: 'default', ips: [], containers: [] },
    ]);
    expect(f.indexState).toMatchObject({ containers: 2, truncated: false });
  });

  it('walks at most once per rescan interval however many lookups miss, and never reports a removed cgroup', () => {
    const root = tree([`a/docker-${ID_A}.scope`]);
    let now = 0;
    const f = new CgroupFinder(
      root,
      { maxDepth: 10, maxDirs: 1000, rescanMs: 1000 },
      '/proc',
      () => now,
    );
    expect(f.byContainers([ID_A, ID_B]).has(ID_A)).toBe(true);
    const first = f.indexState;
    mkdirSync(join(root, 'b', `crio-${ID_B}.scope`), { recursive: true });
    now = 500;
    expect(f.byContainers([ID_B]).size).toBe(0);
    expect(f.indexState).toBe(first);
    now = 1000;
    expect(f.byContainers([ID_B]).has(ID_B)).toBe(true);
    rmSync(join(root, 'a'), { recursive: true });
    now = 1500; // within the interval: the stale index entry is checked, not trusted
    expect(f.byContainers([ID_A]).size).toBe(0);
  });

  it('stops at its bounds and says so', () => {
    const dirs = Array.from({ length: 30 }, (_, i) => `d${i}`);
    const root = tree([...dirs, `deep/1/2/3/docker-${ID_A}.scope`]);
    const f = new CgroupFinder(root, { maxDepth: 3, maxDirs: 10, rescanMs: 0 });
    expect(f.rescan()).toMatchObject({ dirs: 10, truncated: true });
    const deep = new CgroupFinder(root, { maxDepth: 3, maxDirs: 1000, rescanMs: 0 });
    expect(deep.byContainers([ID_A]).size).toBe(0);
    const deeper = new CgroupFinder(root, { maxDepth: 5, maxDirs: 1000, rescanMs: 0 });
    expect(deeper.byContainers([ID_A]).size).toBe(1);
  });
});
