// Signals a root daemon must not act on: SIGUSR1 would open Node's inspector (code execution for
// any local user on 127.0.0.1:9229), SIGHUP would end the agent without a clean stop.
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { eventually } from '../core/testing/test-hive.js';
import { startAgent } from './support/procs.js';

describe('agent signals', () => {
  it('ignores SIGUSR1 and SIGHUP, and stops cleanly on SIGTERM', async () => {
    const agent = await startAgent({ args: ['--bpf-backend=memory'] });
    for (const sig of ['SIGUSR1', 'SIGHUP'] as const) {
      agent.proc.kill(sig);
      await eventually(() => agent.logs().includes(`${sig} ignored`));
      const api = new ApiClient(agent.socket);
      await api.request('GET', '/healthz');
      api.close();
    }
    expect(agent.logs()).not.toMatch(/Debugger listening/);
    expect(agent.proc.exitCode).toBeNull();
    expect(await agent.kill('SIGTERM')).toBe(0);
  });
});
