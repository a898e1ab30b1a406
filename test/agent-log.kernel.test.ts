// An agent that attaches bpf_lxc to several endpoints, then restarts and re-attaches them all
// (an atomic replace), writes nothing but JSON lines: libbpf's messages go through its logger
// (seen here because --debug is on), and the tc calls provoke no kernel error for libbpf to
// quote. Root only.
import { expect, it } from 'vitest';
import { ApiClient } from '../core/api/index.js';
import { BPF_LXC_OBJECT, kernelSuite } from '../core/testing/kernel.js';
import { netns, sh, uniq } from './support/netns.js';
import { restored, startAgent, tempDir, testBpfRoot, type AgentProcess } from './support/procs.js';

const ENDPOINTS = 5;

/** Starts an agent and collects its stdout too (startAgent keeps stderr). */
async function agentWithStdout(
  opts: Parameters<typeof startAgent>[0],
): Promise<{ agent: AgentProcess; stdout: () => string }> {
  const agent = await startAgent(opts);
  let stdout = '';
  // Unread output waits in the pipe, so nothing written before this line is lost.
  agent.proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  return { agent, stdout: () => stdout };
}

/** Every line of an output that is not one JSON object. */
const notJson = (out: string): string[] =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => {
      try {
        const v: unknown = JSON.parse(l);
        return typeof v !== 'object' || v === null || Array.isArray(v);
      } catch {
        return true;
      }
    });

const lines = (out: string): Record<string, unknown>[] =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

kernelSuite(
  'agent output with programs attached',
  { objects: [BPF_LXC_OBJECT], commands: ['ip', 'tc', 'nsenter'] },
  () => {
    it(`is only JSON lines after attaching to ${ENDPOINTS} endpoints and re-attaching at restore`, async () => {
      const id = uniq();
      const ns = netns(`clog-${id}`);
      const net = `10.251.${(parseInt(id.slice(0, 2), 16) % 200) + 20}`;
      const devs = Array.from({ length: ENDPOINTS }, (_, i) => `lxc${id}${i}`);
      for (const d of devs) {
        sh('ip', ['-n', ns, 'link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}p`]);
        sh('ip', ['-n', ns, 'link', 'set', d, 'up']);
      }
      const dir = tempDir();
      const bpfRoot = testBpfRoot();
      const opts = { netns: ns, dir, bpfRoot, args: [`--ipv4-range=${net}.0/24`, '--debug'] };

      const first = await agentWithStdout(opts);
      await restored(first.agent.socket);
      const api = new ApiClient(first.agent.socket);
      for (const [i, d] of devs.entries()) {
        await api.request('PUT', '/endpoint/0', {
          body: {
            'container-id': `c-${d}`,
            'k8s-namespace': 'default',
            'k8s-pod-name': d,
            'interface-name': d,
            addressing: { ipv4: `${net}.${10 + i}` },
            state: 'waiting-for-identity',
            'sync-build-endpoint': true,
          },
        });
      }
      api.close();
      for (const d of devs)
        for (const dir of ['ingress', 'egress'])
          expect(sh('ip', ['netns', 'exec', ns, 'tc', 'filter', 'show', 'dev', d, dir])).toMatch(
            / bpf .*cil_/,
          );
      expect(await first.agent.kill('SIGTERM')).toBe(0);

      // The restore attaches every endpoint's programs again, over the ones still there.
      const second = await agentWithStdout(opts);
      await restored(second.agent.socket);
      expect(await second.agent.kill('SIGTERM')).toBe(0);

      for (const run of [first, second]) {
        expect(notJson(run.agent.logs())).toEqual([]);
        expect(notJson(run.stdout())).toEqual([]);
        const libbpf = lines(run.agent.logs()).filter((l) => l.subsys === 'libbpf');
        // Routed: loading bpf_lxc makes libbpf talk at debug level.
        expect(libbpf.length).toBeGreaterThan(0);
        expect(libbpf.every((l) => l.level === 20)).toBe(true);
        expect(libbpf.filter((l) => String(l.msg).includes('Kernel error'))).toEqual([]);
      }
      const attached = lines(second.agent.logs()).filter((l) =>
        JSON.stringify(l).includes('bpf_lxc attached'),
      );
      expect(attached.length).toBeGreaterThan(0);
    });
  },
);
