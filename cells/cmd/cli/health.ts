import { Option, type Command } from 'commander';
import { ApiClient, socketFromHost } from '../../../core/api/client.js';
import { failures, nodeReachable } from '../../../core/api/health.js';
import { healthSocketBeside } from '../../../core/api/socket-path.js';
import type { HealthModel } from '../../../core/api/types.js';
import { print, type Globals } from './common.js';
import { table } from './render.js';

type HealthStatus = HealthModel<'HealthStatusResponse'>;

/** The option naming the health API's socket (default: health.sock beside the agent's). */
export function healthHostOption(): Option {
  return new Option(
    '--health-host <uri>',
    "health API socket (unix:///path; default: health.sock beside the agent's)",
  ).env('CELLIUM_HEALTH_HOST');
}

/** A client of the health API (/v1beta) at --health-host, or beside the agent's socket. */
export function healthClient(cmd: Command): ApiClient {
  const o = cmd.optsWithGlobals<Globals & { healthHost?: string }>();
  const path =
    o.healthHost !== undefined && o.healthHost !== ''
      ? socketFromHost(o.healthHost)
      : healthSocketBeside(socketFromHost(o.host));
  return new ApiClient(path, '/v1beta');
}

/** Reads GET /status (or, with `probe`, PUT /status/probe) from the health API. */
export async function readHealthStatus(cmd: Command, probe: boolean): Promise<HealthStatus> {
  const api = healthClient(cmd);
  try {
    return probe
      ? await api.request<HealthStatus>('PUT', '/status/probe')
      : await api.request<HealthStatus>('GET', '/status');
  } finally {
    api.close();
  }
}

/**
 * `Cluster health: N/M reachable (timestamp)`, as Cilium's `status` prints it; `details` adds
 * each unreachable node (every node with `all`) and its failing paths.
 */
export function clusterHealthText(s: HealthStatus, details: boolean, all = false): string {
  const nodes = s.nodes ?? [];
  const ok = nodes.filter(nodeReachable).length;
  const when = s.timestamp ? `(${s.timestamp})` : '(no probe yet)';
  const lines = [`${'Cluster health:'.padEnd(20)}${ok}/${nodes.length} reachable   ${when}`];
  if (details || all) {
    for (const n of nodes) {
      const up = nodeReachable(n);
      if (up && !all) continue;
      lines.push(`  ${n.name ?? ''}${up ? '' : ' (unreachable)'}`);
      for (const f of failures(n)) lines.push(`    ${f}`);
    }
  }
  return lines.join('\n');
}

function latency(c: HealthModel<'ConnectivityStatus'> | undefined): string {
  if (!c) return '-';
  if (c.status) return c.status;
  return `${((c.latency ?? 0) / 1e6).toFixed(3)}ms`;
}

/** The per-path table of `cellium health status`. */
export function healthStatusText(s: HealthStatus): string {
  const rows: string[][] = [];
  for (const n of s.nodes ?? []) {
    const paths = [
      ['host', n.host?.['primary-address']],
      ...(n.host?.['secondary-addresses'] ?? []).map((p) => ['host', p] as const),
      ['endpoint', n['health-endpoint']?.['primary-address']],
      ...(n['health-endpoint']?.['secondary-addresses'] ?? []).map((p) => ['endpoint', p] as const),
    ] as const;
    for (const [kind, p] of paths) {
      if (!p) continue;
      rows.push([n.name ?? '', kind, p.ip ?? '', latency(p.icmp), latency(p.http)]);
    }
  }
  return [
    `Probe time:   ${s.timestamp || '(no probe yet)'}`,
    `Nodes:        ${(s.nodes ?? []).filter(nodeReachable).length}/${(s.nodes ?? []).length} reachable`,
    table(['NODE', 'PATH', 'IP', 'ICMP', 'HTTP'], rows),
  ].join('\n');
}

/** `cellium health status [--probe]`: the health API's view, as `cilium-health status`. */
export function registerHealth(program: Command): void {
  const health = program
    .command('health')
    .description('Connectivity to the other nodes (the health API, as cilium-health)')
    .addOption(healthHostOption());
  health
    .command('status')
    .description('Show the last probe of every node (GET /v1beta/status)')
    .option('--probe', 'probe every node now and show the result (PUT /v1beta/status/probe)')
    .action(async (opts: { probe?: boolean }, cmd: Command) => {
      const s = await readHealthStatus(cmd, opts.probe === true);
      print(cmd, s, () => healthStatusText(s));
      if ((s.nodes ?? []).some((n) => !nodeReachable(n))) process.exitCode = 1;
    });
}
