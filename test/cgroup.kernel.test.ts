// The pods' cgroups on the real kernel: cgroups made under the host's cgroup v2 tree with a
// `sleep` in each, endpoints created through a running agent's API (one with a container id,
// one with a pid), and GET /v1/cgroup-dump-metadata answering their cgroup ids and paths.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CgroupFinder } from '../cells/cgroup/finder.js';
import { resolveCgroupRoot } from '../core/bpf/index.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { kernelSuite } from '../core/testing/kernel.js';
import { restored, startAgent } from './support/procs.js';
import { cellium } from './support/cli.js';

const ROOT = '/sys/fs/cgroup';
const v2 = resolveCgroupRoot(ROOT);
const cg2 = 'root' in v2 ? v2.root : undefined;

/** A cgroup of this test with a `sleep` in it; removed (process killed first) when the test ends. */
async function cgroupWithSleep(dir: string): Promise<{ proc: ChildProcess; path: string }> {
  mkdirSync(dir, { recursive: true });
  const proc = spawn('sleep', ['300'], { stdio: 'ignore' });
  const exited = new Promise((r) => proc.on('exit', r));
  onTestFinished(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    // The kernel frees a cgroup's last task a moment after the exit is reported.
    for (let i = 0; i < 100; i++) {
      try {
        rmdirSync(dir);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    rmdirSync(dir);
  });
  await new Promise((r) => proc.once('spawn', r));
  writeFileSync(join(dir, 'cgroup.procs'), String(proc.pid));
  return { proc, path: dir };
}

function cgroupId(path: string): number {
  return Number(statSync(path, { bigint: true }).ino);
}

kernelSuite('cgroup dump on cgroup v2 (kernel)', { commands: ['sleep'] }, () => {
  if (!cg2) {
    if (process.env.CI === 'true') {
      it('missing prerequisite cgroup v2', () => {
        throw new Error(`${'problem' in v2 ? v2.problem : ''} — CI=true: this suite must run`);
      });
    } else it.skip(`(skipped: no cgroup v2 under ${ROOT})`, () => undefined);
    return;
  }

  it('finds a process cgroup from its pid on the real kernel', async () => {
    const top = join(cg2, `cellium-test-${randomBytes(4).toString('hex')}`);
    onTestFinished(() => rmdirSync(top, { recursive: false }));
    const { proc, path } = await cgroupWithSleep(join(top, 'app'));
    expect(readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8')).toContain(
      `0::${path.slice(cg2.length)}`,
    );
    expect(new CgroupFinder(cg2).byPid(proc.pid ?? 0)).toEqual({ id: cgroupId(path), path });
  });

  it('GET /cgroup-dump-metadata and `cgroups list`: a container found by its id, one by its pid, a pod without a cgroup listed empty', async () => {
    const top = join(cg2, `cellium-test-${randomBytes(4).toString('hex')}`);
    onTestFinished(() => rmdirSync(top));
    const cid = randomBytes(32).toString('hex');
    const { path } = await cgroupWithSleep(join(top, `cri-containerd-${cid}.scope`));
    const byPid = await cgroupWithSleep(join(top, 'pod-by-pid'));

    const agent = await startAgent({
      args: [`--cgroup-root=${ROOT}`, '--ipv4-range=10.201.0.0/24'],
    });
    await restored(agent.socket);
    const api = new CelliumClient(agent.socket);
    onTestFinished(() => api.close());
    const create = async (pod: string, more: { 'container-id'?: string; pid?: number }) => {
      const ipam = await api.postIpam({ query: { owner: `test/${pod}` } });
      await api.putEndpointID({
        params: { id: 'cilium-local:0' },
        body: {
          addressing: { ipv4: ipam.address.ipv4 ?? '' },
          'k8s-namespace': 'test',
          'k8s-pod-name': pod,
          state: 'waiting-for-identity',
          ...more,
        },
      });
      return ipam.address.ipv4 ?? '';
    };
    const ipA = await create('runs', { 'container-id': cid });
    const ipB = await create('gone', { 'container-id': randomBytes(32).toString('hex') });
    const ipC = await create('bypid', { pid: byPid.proc.pid ?? 0 });

    const dump = await api.getCgroupDumpMetadata();
    expect(dump['pod-metadatas']).toEqual([
      {
        name: 'runs',
        namespace: 'test',
        ips: [ipA],
        containers: [{ 'cgroup-id': cgroupId(path), 'cgroup-path': path }],
      },
      { name: 'gone', namespace: 'test', ips: [ipB], containers: [] },
      {
        name: 'bypid',
        namespace: 'test',
        ips: [ipC],
        containers: [{ 'cgroup-id': cgroupId(byPid.path), 'cgroup-path': byPid.path }],
      },
    ]);
    const text = await cellium(agent.socket, 'cgroups', 'list');
    expect(text.stdout).toMatch(new RegExp(`^runs\\s+test\\s+${cgroupId(path)}$`, 'm'));
    expect(text.stdout).toMatch(/^gone\s+test\s+-$/m);
  });
});

describe('cgroup root', () => {
  it('resolves a hybrid host to its unified hierarchy, or says what is missing', () => {
    const r = resolveCgroupRoot('/nonexistent-cgroup-root');
    expect(r).toEqual({
      problem:
        '/nonexistent-cgroup-root is not a cgroup v2 mount (nor is /nonexistent-cgroup-root/unified); set --cgroup-root',
    });
  });
});
