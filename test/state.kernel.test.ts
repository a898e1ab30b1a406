// Endpoint state on a disk that fills up or turns read-only: a create is acknowledged only once
// its state is durable, a failure names the real errno and leaves nothing behind, and after a
// restart exactly the acknowledged endpoints come back. Root only (a small tmpfs as state dir).
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { ApiClient, ApiClientError } from '../core/api/index.js';
import { kernelSuite } from '../core/testing/kernel.js';
import { sh } from './support/netns.js';
import { restored, startAgent, tempDir } from './support/procs.js';

/** A fresh tmpfs of `size` mounted at `<dir>/state`, unmounted when the test finishes. */
function smallDisk(size: string): { dir: string; state: string } {
  const dir = tempDir();
  const state = join(dir, 'state');
  mkdirSync(state);
  sh('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', state]);
  onTestFinished(() => {
    sh('umount', ['-l', state]);
  });
  return { dir, state };
}

/** Every file under a directory, recursively (relative names). */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

function endpointRequest(i: number) {
  return {
    'container-id': `disk-${i}`,
    'k8s-namespace': 'default',
    'k8s-pod-name': `pod${i}`,
    // Labels make each state file a few KB, so the disk fills after a handful.
    labels: Array.from({ length: 40 }, (_, j) => `k8s:label-${j}=${'v'.repeat(40)}`),
    addressing: { ipv4: `10.77.${i >> 8}.${(i & 255) + 2}` },
    state: 'waiting-for-identity',
  };
}

async function create(api: ApiClient, i: number): Promise<number | string> {
  try {
    const ep = await api.request<{ id: number }>('PUT', '/endpoint/0', {
      body: endpointRequest(i),
    });
    return ep.id;
  } catch (e) {
    if (e instanceof ApiClientError) return e.message;
    throw e;
  }
}

async function listIds(socket: string): Promise<number[]> {
  const api = new ApiClient(socket);
  const eps = await api.request<{ id: number }[]>('GET', '/endpoint');
  api.close();
  return eps.map((e) => e.id).sort((a, b) => a - b);
}

const args = ['--bpf-backend=memory', '--ipv4-range=10.77.0.0/16'];

kernelSuite('endpoint state on a full or read-only disk', { commands: ['mount', 'umount'] }, () => {
  it('fails creates cleanly when the disk is full; a restart brings back exactly the acknowledged', async () => {
    const { dir, state } = smallDisk('64k');
    const agent = await startAgent({ dir, args });
    const api = new ApiClient(agent.socket);
    const acked: number[] = [];
    const failures: string[] = [];
    for (let i = 0; i < 80 && failures.length < 5; i++) {
      const r = await create(api, i);
      if (typeof r === 'number') acked.push(r);
      else failures.push(r);
    }
    expect(acked.length).toBeGreaterThan(0);
    expect(failures.length).toBe(5);
    for (const f of failures) {
      expect(f).toMatch(
        /: 500: endpoint \d+: its state could not be saved, nothing was changed: cannot .*ENOSPC/,
      );
    }
    // Nothing half-written: no temporary file, every state file restorable.
    expect(files(state).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const health = await api.request<{
      'modules-health': { modules: { 'module-id': string; level: string; message: string }[] };
    }>('GET', '/healthz');
    const persistence = health['modules-health'].modules.find((m) =>
      m['module-id'].endsWith('endpoint.persistence'),
    );
    expect(persistence).toMatchObject({ level: 'degraded' });
    expect(persistence?.message).toMatch(/ENOSPC/);
    expect(await listIds(agent.socket)).toEqual(acked);
    api.close();
    await agent.kill('SIGKILL');
    const again = await startAgent({ dir, args });
    await restored(again.socket);
    expect(await listIds(again.socket)).toEqual(acked);
    expect(again.logs()).not.toMatch(/moved to .*quarantine/);
  });

  it('on a read-only state directory refuses creates and deletes with EROFS and loses nothing', async () => {
    const { dir, state } = smallDisk('1m');
    const agent = await startAgent({ dir, args });
    const api = new ApiClient(agent.socket);
    const acked = [await create(api, 1), await create(api, 2), await create(api, 3)];
    expect(acked.every((r) => typeof r === 'number')).toBe(true);
    sh('mount', ['-o', 'remount,ro', state]);
    expect(await create(api, 4)).toMatch(
      /: 500: endpoint 4: its state could not be saved, nothing was changed: cannot .*EROFS/,
    );
    await expect(api.request('DELETE', '/endpoint/1')).rejects.toThrow(
      /500: endpoint 1: its state could not be removed, nothing was changed: cannot remove .*EROFS/,
    );
    expect(await listIds(agent.socket)).toEqual(acked);
    api.close();
    await agent.kill('SIGKILL');
    sh('mount', ['-o', 'remount,rw', state]);
    const again = await startAgent({ dir, args });
    await restored(again.socket);
    expect(await listIds(again.socket)).toEqual(acked);
  });
});
