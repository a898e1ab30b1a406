import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { agent } from '../../cells/agent.js';
import { HostLinks } from '../../cells/endpoint/index.js';
import { MemoryLinks } from '../../cells/endpoint/links.memory.js';
import { provide } from '../../core/hive/index.js';
import { testHive, type TestHive } from '../../core/testing/test-hive.js';
import { tempDir } from './procs.js';

/** The whole agent in this process, on in-memory maps, with a fake table of host devices. */
export interface WholeAgent {
  readonly hive: TestHive;
  readonly socket: string;
  /** The host devices the endpoint cell sees: `links.addVeth(name)` makes a pod's veth. */
  readonly links: MemoryLinks;
  /** Stops the hive and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts the whole agent (cells/agent.ts) in this process, socket and state in a fresh temporary
 * directory, pod CIDR `podCidr`; for suites that share one agent (beforeAll/afterAll).
 */
export async function startWholeAgent(
  podCidr = '10.77.0.0/24',
  flags: Record<string, unknown> = {},
): Promise<WholeAgent> {
  const dir = tempDir('cellium-whole-');
  const links = new MemoryLinks();
  const socket = join(dir, 'cellium.sock');
  const hive = testHive([agent], {
    flags: {
      'socket-path': socket,
      'state-dir': join(dir, 'state'),
      'bpf-root': join(dir, 'bpf'),
      'bpf-backend': 'memory',
      // Whole agents run side by side in tests: none takes the kubelet's port 9879.
      'agent-health-port': 0,
      'ipv4-range': podCidr,
      // Suites sharing one agent: no health probes, no health port on the host's address.
      'enable-health-checking': false,
      ...flags,
    },
    overrides: [provide(HostLinks, {}, () => links)],
  });
  await hive.hive.start();
  return {
    hive,
    socket,
    links,
    stop: async () => {
      await hive.hive.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
