// The real agent (from its sources) as a BGP speaker for the interop and hostile-input tests: a
// CiliumBGPPeeringPolicy file (cells/bgp/README.md), the BGP flags, its pod CIDRs, and what the
// tests read of it: GET /v1/bgp/peers and /v1/bgp/routes, `cellium bgp routes`, services.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { ApiClient } from '../../core/api/index.js';
import { bgpPolicy, lbServiceSpec, type BgpAgentOptions } from './bgp-policy.js';
import { Teardown } from './bgp-routers.js';
import { cellium } from './cli.js';
import { startAgent, tempDir, testBpfRoot, type AgentProcess } from './procs.js';

/** A Teardown that runs when the current test finishes, whatever happens. */
export function teardown(): Teardown {
  const td = new Teardown();
  onTestFinished(() => td.run());
  return td;
}

/** Cilium's BgpPeer as GET /v1/bgp/peers returns it (the fields the tests read). */
export interface BgpPeerJson {
  readonly 'peer-address': string;
  readonly 'peer-asn': number;
  readonly 'local-asn': number;
  readonly 'session-state': string;
  readonly 'graceful-restart'?: { readonly enabled?: boolean };
  readonly families?: readonly {
    afi: string;
    safi: string;
    received?: number;
    accepted?: number;
    advertised?: number;
  }[];
}

/** Cilium's BgpRoute as GET /v1/bgp/routes returns it. */
export interface BgpRouteJson {
  readonly prefix: string;
  readonly neighbor?: string;
  readonly paths: readonly { readonly stale?: boolean; readonly best?: boolean }[];
}

/** The agent under test, with BGP on. */
export interface BgpAgent {
  readonly agent: AgentProcess;
  readonly dir: string;
  /** GET /v1/bgp/peers. */
  peers(): Promise<BgpPeerJson[]>;
  /** The session state the agent reports for neighbor `address` ('' if it has none). */
  state(address: string): Promise<string>;
  /** GET /v1/bgp/routes with these query parameters. */
  routes(q: Readonly<Record<string, string>>): Promise<BgpRouteJson[]>;
  /** `cellium bgp <args>` (text), failing on a non-zero exit. */
  cli(...args: string[]): Promise<string>;
  /** Any API request. */
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Kills the agent with `signal` and starts it again on the same state, pins and flags. */
  restart(signal: NodeJS.Signals): Promise<void>;
}

/** Starts the agent with --enable-bgp-control-plane and the policy for `o`. */
export async function startBgpAgent(o: BgpAgentOptions): Promise<BgpAgent> {
  const dir = tempDir('cellium-bgp-');
  const bpfRoot = testBpfRoot();
  const policy = join(dir, 'bgp-policy.json');
  writeFileSync(policy, bgpPolicy(o));
  const opts = {
    dir,
    bpfRoot,
    args: [
      '--enable-bgp-control-plane=true',
      `--bgp-config=${policy}`,
      `--bgp-listen-port=${o.listenPort}`,
      `--ipv4-node=${o.nodeV4}`,
      `--ipv6-node=${o.nodeV6 ?? ''}`,
      `--ipv4-range=${o.podV4}`,
      ...(o.podV6 ? ['--enable-ipv6=true', `--ipv6-range=${o.podV6}`] : []),
      ...(o.args ?? []),
    ],
  };
  let agent = await startAgent(opts);
  let api = new ApiClient(agent.socket);
  onTestFinished(() => api.close());
  const request = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    api.request<T>(method, path, body === undefined ? {} : { body });
  const peers = (): Promise<BgpPeerJson[]> => request<BgpPeerJson[]>('GET', '/bgp/peers');
  const a: BgpAgent = {
    get agent() {
      return agent;
    },
    dir,
    peers,
    state: async (address) =>
      (await peers()).find((p) => p['peer-address'].replace(/\/\d+$/, '') === address)?.[
        'session-state'
      ] ?? '',
    routes: (q) =>
      request<BgpRouteJson[]>('GET', `/bgp/routes?${new URLSearchParams(q).toString()}`),
    cli: async (...args) => {
      const r = await cellium(agent.socket, 'bgp', ...args);
      if (r.code !== 0)
        throw new Error(`cellium bgp ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
    request,
    restart: async (signal) => {
      await agent.kill(signal);
      api.close();
      agent = await startAgent(opts);
      api = new ApiClient(agent.socket);
    },
  };
  return a;
}

/** A LoadBalancer service over the REST API (PUT /service/{id}), one backend, named for selectors. */
export async function putLbService(
  a: BgpAgent,
  s: Parameters<typeof lbServiceSpec>[0],
): Promise<void> {
  await a.request('PUT', `/service/${s.id}`, lbServiceSpec(s));
}
