import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { describeHive } from '../core/hive/index.js';
import { testHive } from '../core/testing/test-hive.js';
import { agent } from '../cells/agent.js';

describe('the whole agent', () => {
  it('builds the full hive, starts every cell healthy over the socket, and stops cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-agent-'));
    const h = testHive([agent], {
      flags: {
        'socket-path': join(dir, 'api.sock'),
        'state-dir': join(dir, 'state'),
        'bpf-root': join(dir, 'bpf'),
        'bpf-backend': 'memory',
        // No node IPs: the health cell runs (probes, its API) but opens no TCP port that
        // another test's agent might hold.
        'ipv4-node': '',
        'ipv6-node': '',
        'agent-health-port': 0,
      },
    });
    expect(describeHive(h.hive)).toContain('Ⓜ️ agent (Cellium agent)');
    await h.requireStart();
    const api = new ApiClient(join(dir, 'api.sock'));
    const s = await api.request<{
      cilium: { state: string };
      'modules-health': { modules: { level: string }[] };
    }>('GET', '/healthz');
    api.close();
    expect(s.cilium.state).toBe('Ok');
    expect(s['modules-health'].modules.every((m) => m.level === 'ok')).toBe(true);
    await h.requireStop();
    expect(h.hive.health.tree('agent').level).toBe('stopped');
  });

  it('opens the LB and conntrack maps before endpoints load bpf_lxc with them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellium-agent-'));
    const h = testHive([agent], {
      flags: { 'state-dir': join(dir, 'state'), 'bpf-backend': 'memory', 'agent-health-port': 0 },
    });
    h.hive.populate();
    const order = h.hive.hooks().map((x) => `${x.module.split('.').at(-1) ?? ''} ${x.name}`);
    const at = (hook: string) => {
      const i = order.indexOf(hook);
      expect(i, `${hook} in ${order.join(', ')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const first = Math.min(at('endpoint state-lock'), at('endpoint jobs'), at('endpoint bpf-lxc'));
    expect(at('loadbalancer lb-maps')).toBeLessThan(first);
    expect(at('conntrack ct-maps')).toBeLessThan(first);
  });
});
