// Restore through the real agent process: state files that once crashed it, randomly mutated
// ones, and tens of thousands of endpoints while /healthz must keep answering.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { persisted, writeFuzzedStates, writeStateFile } from '../cells/endpoint/fixtures.js';
import { restored, startAgent, tempDir } from './support/procs.js';
import { eventually } from '../core/testing/test-hive.js';

const args = ['--bpf-backend=memory', '--ipv4-range=10.9.0.0/16'];

function quarantined(dir: string): string[] {
  const q = join(dir, 'state', 'endpoints-quarantine');
  return existsSync(q) ? readdirSync(q).map((n) => n.replace(/-\d{8}T\d+Z$/, '')) : [];
}

interface EndpointModel {
  id: number;
  status: { networking: { addressing: { ipv4?: string }[] } };
}

async function endpoints(socket: string): Promise<EndpointModel[]> {
  const api = new ApiClient(socket);
  const eps = await api.request<EndpointModel[]>('GET', '/endpoint');
  api.close();
  return eps.sort((a, b) => a.id - b.id);
}

async function endpointIds(socket: string): Promise<number[]> {
  return (await endpoints(socket)).map((e) => e.id);
}

describe('restore in the agent process', () => {
  it('starts with a wrong-typed interface name on disk (it once died of SIGSEGV at every start)', async () => {
    const dir = tempDir();
    const eps = join(dir, 'state', 'endpoints');
    writeStateFile(eps, '1', { format: 1, endpoint: persisted(1) });
    writeStateFile(eps, '2', { format: 1, endpoint: { ...persisted(2), ifName: 12345 } });
    const agent = await startAgent({ dir, args });
    await restored(agent.socket);
    expect(await endpointIds(agent.socket)).toEqual([1]);
    expect(quarantined(dir)).toEqual(['2']);
    expect(agent.proc.exitCode).toBeNull();
  });

  it('survives hundreds of mutated state files: up, valid ones back, the rest quarantined', async () => {
    const dir = tempDir();
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    console.log(`restore fuzz seed ${seed} (FUZZ_SEED=${seed} repeats it)`);
    const { expectValid, expectBad } = writeFuzzedStates(join(dir, 'state', 'endpoints'), {
      total: 300,
      seed,
      // No such veth on this host: endpoints that name it are removed as gone.
      veth: 'lxcnone0',
    });
    const agent = await startAgent({ dir, args });
    await restored(agent.socket);
    const back = await endpoints(agent.socket);
    const q = quarantined(dir);
    for (const id of expectBad) expect(q, `seed ${seed}`).toContain(String(id));
    // A valid file comes back unless an earlier endpoint took its IP (or it names the veth).
    for (const id of expectValid) {
      const ip = persisted(id).ipv4;
      const clash = back.some((e) => e.id < id && e.status.networking.addressing[0]?.ipv4 === ip);
      if (id % 10 !== 0 && !clash)
        expect(
          back.map((e) => e.id),
          `seed ${seed}`,
        ).toContain(id);
    }
    expect(agent.proc.exitCode).toBeNull();
  });

  it('answers /healthz from the first moment while 32,768 endpoints are restored', async () => {
    const dir = tempDir();
    const eps = join(dir, 'state', 'endpoints');
    const total = 32_768;
    for (let id = 1; id <= total; id++)
      writeStateFile(eps, String(id), { format: 1, endpoint: persisted(id) });
    const agent = await startAgent({ dir, args });
    const api = new ApiClient(agent.socket);
    const seen: string[] = [];
    for (;;) {
      const s = await api.request<{ cilium: { msg?: string } }>('GET', '/healthz');
      const msg = s.cilium.msg ?? '';
      seen.push(msg);
      if (!msg.startsWith('not ready')) break;
    }
    api.close();
    // At least one answer came while restore was still under way.
    expect(seen.some((m) => /^not ready: restoring endpoints \(\d+ of 32768\)$/.test(m))).toBe(
      true,
    );
    expect(await endpointIds(agent.socket)).toHaveLength(total);
  });
});

describe('one agent per state directory', () => {
  it('refuses a second agent on the same state, naming the first', async () => {
    const dir = tempDir();
    const first = await startAgent({ dir, args });
    await restored(first.socket);
    const second = await startAgent({
      dir: tempDir(),
      args: [...args, `--state-dir=${join(dir, 'state')}`],
    });
    const api = new ApiClient(second.socket);
    await eventually(async () => {
      const s = await api.request<{ cilium: { msg: string } }>('GET', '/healthz');
      return s.cilium.msg.includes(`in use by another agent (pid ${String(first.proc.pid)}`);
    });
    api.close();
  });
});
