import { AgentUnreachableError, ApiClient, ApiClientError } from '../../core/api/client.js';
import type { Model } from '../../core/api/types.js';
import type { PodLink } from './links.js';

/** The link side, loaded once (see links.ts). */
type Links = typeof import('./links.js');
let linksModule: Promise<Links> | undefined;
const links = (): Promise<Links> => (linksModule ??= import('./links.js'));

/** The CNI versions this plugin speaks. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** A CNI error (spec codes: 1 version, 4 env, 6 decode, 7 config, 11 retry, 50 unavailable). */
export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'CniError';
  }
}

/** What the runtime hands the plugin. */
export interface CniInput {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
}

/** The network configuration on stdin (the fields this plugin reads). */
export interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  /** The agent's API socket (default: the agent's default). */
  readonly 'socket-path'?: string;
}

interface Ctx {
  readonly conf: NetConf;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly namespace: string;
  readonly pod: string;
  readonly api: ApiClient;
}

function parseConf(stdin: string): NetConf {
  let conf: Partial<NetConf>;
  try {
    conf = JSON.parse(stdin || '{}') as Partial<NetConf>;
  } catch (e) {
    throw new CniError(
      6,
      'failed to decode the network configuration on stdin',
      (e as Error).message,
    );
  }
  if (!conf.cniVersion) throw new CniError(7, 'network configuration has no cniVersion');
  if (!SUPPORTED_VERSIONS.includes(conf.cniVersion)) {
    throw new CniError(
      1,
      `CNI version ${conf.cniVersion} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return conf as NetConf;
}

function cniArgs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (raw ?? '').split(';')) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function context(input: CniInput, needNetns: boolean): Ctx {
  const conf = parseConf(input.stdin);
  const env = input.env;
  const missing = ['CNI_CONTAINERID', 'CNI_IFNAME', ...(needNetns ? ['CNI_NETNS'] : [])].filter(
    (k) => !env[k],
  );
  if (missing.length > 0)
    throw new CniError(4, `missing environment variables: ${missing.join(', ')}`);
  const args = cniArgs(env.CNI_ARGS);
  return {
    conf,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifName: env.CNI_IFNAME ?? 'eth0',
    namespace: args.K8S_POD_NAMESPACE ?? '',
    pod: args.K8S_POD_NAME ?? '',
    api: new ApiClient(...(conf['socket-path'] ? [conf['socket-path']] : [])),
  };
}

/**
 * Waits for the agent (GET /config every 500 ms, up to 30 s), as Cilium's plugin does, and
 * starts loading the link side as soon as the first request is sent.
 */
async function agentConfig(
  api: ApiClient,
  timeoutMs = 30_000,
): Promise<Model<'DaemonConfiguration'>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await api.request<Model<'DaemonConfiguration'>>('GET', '/config', {
        onSent: () => void links().catch(() => undefined), // awaited (and reported) where used
      });
    } catch (e) {
      if (Date.now() > end)
        throw new CniError(11, `the agent is not answering: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Gives back what IPAM handed out (best effort: unreleased IPs expire, as asked). */
async function releaseIps(api: ApiClient, ipam: Model<'IPAMResponse'>): Promise<void> {
  for (const a of [ipam.ipv4?.ip, ipam.ipv6?.ip])
    if (a) await api.request('DELETE', `/ipam/${encodeURIComponent(a)}`).catch(() => undefined);
}

/** The CNI result of ADD. */
export interface CniResult {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface: number }[];
  routes: { dst: string; gw?: string }[];
  dns: Record<string, never>;
}

/** ADD: IPs from the agent's IPAM, a veth pair into the pod, then the endpoint. Undone on failure. */
export async function cmdAdd(input: CniInput): Promise<CniResult> {
  const c = context(input, true);
  const owner = c.pod ? `${c.namespace}/${c.pod}` : c.containerId;
  const allocate = (): Promise<Model<'IPAMResponse'>> =>
    c.api.request<Model<'IPAMResponse'>>('POST', `/ipam?owner=${encodeURIComponent(owner)}`, {
      headers: { expiration: 'true' },
    });
  // The configuration and the IPs are asked for at once (one round trip less); an allocation
  // that failed because the agent was not up yet is asked again once it answers.
  const first = allocate().then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );
  let cfg: Model<'DaemonConfiguration'>;
  try {
    cfg = await agentConfig(c.api);
  } catch (e) {
    const r = await first;
    if ('ok' in r) await releaseIps(c.api, r.ok);
    c.api.close();
    throw e;
  }
  const mtu = cfg.status?.deviceMTU ?? 1500;
  // Below the device's in tunnel mode (the encapsulation's overhead), as Cilium's plugin sets it.
  const routeMtu = cfg.status?.routeMTU ?? mtu;
  const r = await first;
  const ipam = await (async () => {
    if ('ok' in r) return r.ok;
    if (r.err instanceof AgentUnreachableError) return allocate();
    throw r.err instanceof Error ? r.err : new Error(String(r.err));
  })().catch((e: unknown) => {
    c.api.close();
    throw new CniError(11, `IP allocation failed: ${(e as Error).message}`);
  });
  const ips = (['ipv4', 'ipv6'] as const).flatMap((f) => {
    const a = ipam[f];
    return a?.ip
      ? [{ family: f, ip: a.ip, gateway: a.gateway ?? '', uuid: a['expiration-uuid'] ?? '' }]
      : [];
  });
  let made: PodLink | undefined;
  let lk: Links | undefined;
  let hostName = '';
  try {
    lk = await links();
    hostName = lk.hostIfName(c.containerId, c.ifName);
    made = lk.addPodLink({
      hostName,
      tmpName: lk.tmpIfName(c.containerId, c.ifName),
      podName: c.ifName,
      netns: c.netns,
      mtu,
      routeMtu,
      ips: ips.map((a) => ({ family: a.family, ip: a.ip, gateway: a.gateway })),
    });
    const hostLink = made.host;
    const podLink = made.pod;
    const v4 = ips.find((a) => a.family === 'ipv4');
    const v6 = ips.find((a) => a.family === 'ipv6');
    await c.api.request('PUT', '/endpoint/cilium-local:0', {
      body: {
        addressing: {
          ...(v4 ? { ipv4: v4.ip, 'ipv4-expiration-uuid': v4.uuid } : {}),
          ...(v6 ? { ipv6: v6.ip, 'ipv6-expiration-uuid': v6.uuid } : {}),
        },
        'container-id': c.containerId,
        'container-interface-name': c.ifName,
        'host-mac': hostLink.mac,
        mac: podLink.mac,
        'interface-index': hostLink.index,
        'interface-name': hostName,
        'k8s-namespace': c.namespace,
        'k8s-pod-name': c.pod,
        state: 'waiting-for-identity',
        'sync-build-endpoint': true,
        'datapath-configuration': {},
      },
    });
    c.api.close();
    return {
      cniVersion: c.conf.cniVersion,
      interfaces: [
        { name: hostName, mac: hostLink.mac },
        { name: c.ifName, mac: podLink.mac, sandbox: c.netns },
      ],
      ips: ips.map((a) => ({
        address: `${a.ip}/${a.family === 'ipv4' ? 32 : 128}`,
        gateway: a.gateway,
        interface: 1,
      })),
      routes: ips.map((a) => ({ dst: a.family === 'ipv4' ? '0.0.0.0/0' : '::/0', gw: a.gateway })),
      dns: {},
    };
  } catch (e) {
    // Undo: the veth, when addPodLink returned it (it undoes its own failures; the peer and
    // both ends' addresses and routes go with it), and the IPs.
    if (made && lk) {
      try {
        lk.delPodLink(hostName);
      } catch {
        // gone meanwhile; nothing else to undo here
      }
    }
    for (const a of ips)
      await c.api.request('DELETE', `/ipam/${encodeURIComponent(a.ip)}`).catch(() => undefined);
    c.api.close();
    if (e instanceof CniError) throw e;
    throw new CniError(
      999,
      `ADD failed: ${e instanceof ApiClientError ? e.message : (e as Error).message}`,
    );
  }
}

/** DEL: the endpoint (which frees its IPs) and the host veth; absent things are fine. */
export async function cmdDel(input: CniInput): Promise<void> {
  const c = context(input, false);
  await agentConfig(c.api, 10_000).catch(() => undefined);
  try {
    await c.api.request('DELETE', `/endpoint/container-id:${encodeURIComponent(c.containerId)}`);
  } catch (e) {
    if (!(e instanceof ApiClientError && e.status === 404))
      throw new CniError(11, `endpoint delete failed: ${(e as Error).message}`);
    // No endpoint (ADD failed half-way): free whatever the pod was given.
    const owner = c.pod ? `${c.namespace}/${c.pod}` : c.containerId;
    await c.api.request('DELETE', `/ipam/${encodeURIComponent(owner)}`).catch(() => undefined);
  }
  c.api.close();
  // Without the link side (libc cannot be loaded) no ADD of this plugin made a veth here: DEL
  // stays idempotent. A veth that is there and cannot be deleted is an error to retry.
  const lk = await links().catch(() => undefined);
  if (!lk) return;
  try {
    lk.delPodLink(lk.hostIfName(c.containerId, c.ifName));
  } catch (e) {
    throw new CniError(11, `deleting the host veth failed: ${(e as Error).message}`);
  }
}

/** CHECK: the endpoint exists and is not failing; the pod's interface is there. */
export async function cmdCheck(input: CniInput): Promise<void> {
  const c = context(input, true);
  const h = await c.api
    .request<Model<'EndpointHealth'>>(
      'GET',
      `/endpoint/container-id:${encodeURIComponent(c.containerId)}/healthz`,
    )
    .catch((e: unknown) => {
      throw new CniError(
        999,
        `no healthy endpoint for container ${c.containerId}: ${(e as Error).message}`,
      );
    });
  c.api.close();
  if (h.overallHealth === 'Failure')
    throw new CniError(999, `endpoint of container ${c.containerId} is failing`);
  let link;
  try {
    link = (await links()).getLinkIn(c.netns, c.ifName);
  } catch (e) {
    throw new CniError(999, `cannot inspect ${c.netns}: ${(e as Error).message}`);
  }
  if (!link) throw new CniError(999, `interface ${c.ifName} is missing in ${c.netns}`);
}

/** STATUS (CNI 1.1): is the plugin ready to ADD? */
export async function cmdStatus(input: CniInput): Promise<void> {
  const conf = parseConf(input.stdin);
  const api = new ApiClient(...(conf['socket-path'] ? [conf['socket-path']] : []));
  const s = await api
    .request<Model<'StatusResponse'>>('GET', '/healthz', { headers: { brief: 'true' } })
    .catch(() => undefined);
  api.close();
  if (s?.cilium?.state !== 'Ok')
    throw new CniError(50, `the agent is not ready: ${s?.cilium?.msg ?? 'not answering'}`);
}
