// The kubelet's health port on a real agent process: plain HTTP /healthz on localhost,
// 200 while the agent is Ok, 503 otherwise; none with --agent-health-port=0; a taken port fails
// the start naming the flag. On in-memory maps: what is tested is the port, not the datapath.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../core/testing/test-hive.js';
import { program, run, startAgent, tempDir, testBpfRoot } from './support/procs.js';
import { freePort } from '../core/testing/ports.js';

const MEMORY = '--bpf-backend=memory';

async function kubelet(port: number): Promise<{ code: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { code: res.status, body: await res.text() };
}

/** The TCP ports a process listens on (its sockets matched against /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const f of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (state === '0A' && inode !== undefined && inodes.has(inode) && local) {
        ports.push(parseInt(local.split(':').at(-1) ?? '', 16));
      }
    }
  }
  return ports.sort((a, b) => a - b);
}

describe('the agent health port', () => {
  it('answers 200 with the state while the agent is Ok, and closes when it stops', async () => {
    const port = await freePort();
    const agent = await startAgent({ healthPort: port, args: [MEMORY] });
    const ok = await eventually(async () => {
      const r = await kubelet(port);
      return r.code === 200 && r;
    });
    expect(ok.body).toMatch(/^Ok: Cellium \d+\.\d+\.\d+/);
    const pid = agent.proc.pid ?? 0;
    // 127.0.0.1 and, where the host has IPv6 loopback, ::1; nothing else.
    const hasV6 = Object.values(networkInterfaces()).some((as) =>
      as?.some((a) => a.address === '::1'),
    );
    expect(listeningPorts(pid)).toEqual(hasV6 ? [port, port] : [port]);
    expect(await agent.kill('SIGTERM')).toBe(0);
    await expect(kubelet(port)).rejects.toThrow();
  });

  it('answers 503 naming the degraded cell', async () => {
    const port = await freePort();
    // A cgroup root set by hand that is not cgroup v2 degrades the cgroup cell.
    await startAgent({ healthPort: port, args: [MEMORY, `--cgroup-root=${tempDir()}`] });
    const bad = await eventually(async () => {
      const r = await kubelet(port);
      return r.code === 503 && r.body.includes('degraded') && r;
    });
    expect(bad.body).toMatch(/^Warning: 1 degraded: [\w.]*cgroup[\w.]*: .*cgroup/);
  });

  it('opens no TCP port with --agent-health-port=0', async () => {
    const agent = await startAgent({ args: [MEMORY] });
    expect(listeningPorts(agent.proc.pid ?? 0)).toEqual([]);
  });

  it('fails the start naming the flag and the port when the port is taken', async () => {
    const port = await freePort();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r));
    try {
      const dir = tempDir();
      const r = await run([
        ...program('cellium-agent'),
        `--socket-path=${join(dir, 'cellium.sock')}`,
        `--state-dir=${join(dir, 'state')}`,
        `--bpf-root=${testBpfRoot()}`,
        MEMORY,
        `--agent-health-port=${port}`,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `--agent-health-port=${port}: 127.0.0.1:${port} is already in use; choose another port, or 0 for none`,
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
