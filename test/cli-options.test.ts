// Cilium's runtime options and regeneration on request, through `cellium` against a running
// agent: the option names and values Cilium's clients send, what each changes (the agent's log
// level, an endpoint's debug detail), and `endpoint regenerate`.
import { describe, expect, it } from 'vitest';
import type { Model } from '../core/api/types.js';
import { CelliumClient } from '../core/api/typed-client.js';
import { cellium, celliumJson } from './support/cli.js';
import { startAgent, type AgentProcess } from './support/procs.js';

/** Adds endpoint `n` (no interface: its datapath is its lxc entries) with IP 10.200.0.<10+n>. */
async function addEndpoint(socket: string, n: number): Promise<void> {
  const api = new CelliumClient(socket);
  try {
    await api.putEndpointID({
      params: { id: String(n) },
      body: {
        addressing: { ipv4: `10.200.0.${10 + n}` },
        'container-id': `cid${n}`,
        'k8s-namespace': 'default',
        'k8s-pod-name': `pod${n}`,
        labels: ['k8s:app=web'],
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
      },
    });
  } finally {
    api.close();
  }
}

/** The regeneration steps the agent logged at debug level for endpoint `id`. */
function debugSteps(agent: AgentProcess, id: number): string[] {
  return agent
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; endpoint?: number; msg: string })
    .filter((l) => l.level === 20 && l.endpoint === id && l.msg.startsWith('regeneration: '))
    .map((l) => l.msg);
}

describe('cellium: runtime options and regeneration', () => {
  it("config takes Cilium's names and values; Debug switches the agent's debug log at runtime", async () => {
    const agent = await startAgent({
      args: ['--bpf-backend=memory', '--monitor-aggregation=maximum'],
    });
    const sock = agent.socket;
    const text = await cellium(sock, 'config');
    expect(text.stdout).toMatch(/^Debug\s+Disabled$/m);
    const cfg = await celliumJson<Model<'DaemonConfiguration'>>(sock, 'config');
    expect(cfg.spec?.options).toEqual({ Debug: 'Disabled' });
    expect(cfg.status?.immutable).toMatchObject({
      DropNotification: 'Enabled',
      TraceNotification: 'Enabled',
      PolicyVerdictNotification: 'Enabled',
      PolicyAuditMode: 'Disabled',
      // --monitor-aggregation, by Cilium's name for the level.
      MonitorAggregationLevel: 'Max',
    });
    // The README's spelling and Cilium's are the same option.
    expect((await cellium(sock, 'config', 'debug=true')).stdout).toMatch(/^Debug\s+Enabled$/m);
    const off = await celliumJson<Model<'DaemonConfiguration'>>(sock, 'config', 'Debug=Disabled');
    expect(off.status?.realized?.options?.Debug).toBe('Disabled');

    const bad = await cellium(sock, 'config', 'Debug=maybe');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("option Debug: invalid value 'maybe' (accepted: true, on,");
    const ro = await cellium(sock, 'config', 'dropnotification=off');
    expect(ro.code).toBe(1);
    expect(ro.stderr).toMatch(/option DropNotification is read-only .*not switchable/);
    const level = await cellium(sock, 'config', 'MonitorAggregationLevel=medium');
    expect(level.code).toBe(1);
    expect(level.stderr).toMatch(/read-only in this agent \(Max\): set at start with --monitor/);

    // At info level the agent does not log regeneration steps; with Debug it does.
    await addEndpoint(sock, 1);
    expect((await cellium(sock, 'endpoint', 'regenerate', '1')).code).toBe(0);
    expect(debugSteps(agent, 1)).toEqual([]);
    expect((await cellium(sock, 'config', 'Debug=Enabled')).code).toBe(0);
    expect((await cellium(sock, 'endpoint', 'regenerate', '1')).code).toBe(0);
    expect(debugSteps(agent, 1)).toEqual([
      'regeneration: lxc entries written for 10.200.0.11 (identity 256, ifindex 0)',
    ]);
    expect((await cellium(sock, 'config', 'Debug=0')).code).toBe(0);
    expect((await cellium(sock, 'endpoint', 'regenerate', '1')).code).toBe(0);
    expect(debugSteps(agent, 1)).toHaveLength(1);
  });

  it('endpoint config shows and changes options; endpoint regenerate rewrites, logs and bumps the revision', async () => {
    const agent = await startAgent({ args: ['--bpf-backend=memory'] });
    const sock = agent.socket;
    await addEndpoint(sock, 1);
    await addEndpoint(sock, 2);

    const shown = await cellium(sock, 'endpoint', 'config', '1');
    expect(shown.stdout).toMatch(/^Option\s+Value$/m);
    expect(shown.stdout).toMatch(/^Debug\s+Disabled$/m);
    expect(shown.stdout).toMatch(/^PolicyAuditMode\s+Disabled \(read-only\)$/m);
    const changed = await celliumJson<Model<'EndpointConfigurationStatus'>>(
      sock,
      'endpoint',
      'config',
      '1',
      'debug=1',
    );
    expect(changed.realized?.options).toEqual({ Debug: 'Enabled' });
    expect(changed.immutable).toMatchObject({ DropNotification: 'Enabled' });

    const before = await celliumJson<Model<'Endpoint'>>(sock, 'endpoint', 'get', '1');
    const rev = before.status?.policy?.realized?.['policy-revision'] ?? 0;
    expect(rev).toBe(1); // the policy repository's revision: no rule imported
    const regen = await cellium(sock, 'endpoint', 'regenerate', '1');
    expect(regen.stdout).toBe(
      `Endpoint 1 successfully regenerated (state ready, revision ${rev})\n`,
    );
    const after = await celliumJson<Model<'Endpoint'>>(sock, 'endpoint', 'regenerate', '1');
    expect(after.status?.policy?.realized?.['policy-revision']).toBe(rev);
    expect(after.status?.state).toBe('ready');

    const log = await celliumJson<Model<'EndpointStatusChange'>[]>(sock, 'endpoint', 'log', '1');
    const messages = log.map((l) => l.message);
    expect(messages).toContain('Regenerating endpoint: endpoint was manually regenerated via API');
    expect(messages).toContain(
      'debug: lxc entries written for 10.200.0.11 (identity 256, ifindex 0)',
    );
    expect(messages.at(-1)).toMatch(/^Completed endpoint regeneration .*revision 4\)$/);
    // Debug is endpoint 1's alone: the agent logs its steps, not endpoint 2's.
    expect(debugSteps(agent, 1).length).toBeGreaterThan(0);
    expect((await cellium(sock, 'endpoint', 'regenerate', '2')).code).toBe(0);
    expect(debugSteps(agent, 2)).toEqual([]);

    const bad = await cellium(sock, 'endpoint', 'config', '1', 'Debug=maybe');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("option Debug: invalid value 'maybe'");
    const unknown = await cellium(sock, 'endpoint', 'config', '1', 'Bogus=1');
    expect(unknown.stderr).toContain("unknown option 'Bogus'");
    const missing = await cellium(sock, 'endpoint', 'regenerate', '99');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not found');
  });
});
