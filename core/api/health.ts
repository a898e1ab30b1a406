// Reading the health API's models (api-spec/health.yaml): which nodes a probe reached and what
// failed, for the agent's status and the CLI alike.
import type { HealthModel } from './types.js';

type PathStatus = HealthModel<'PathStatus'>;
type NodeStatus = HealthModel<'NodeStatus'>;

/** Whether a path answered both probes. */
export function pathOk(p: PathStatus | undefined): boolean {
  return p !== undefined && p.icmp?.status === '' && p.http?.status === '';
}

/** Whether a node is reachable: every probed path of its host and health endpoint answered. */
export function nodeReachable(n: NodeStatus): boolean {
  const paths = [
    n.host?.['primary-address'],
    ...(n.host?.['secondary-addresses'] ?? []),
    n['health-endpoint']?.['primary-address'],
    ...(n['health-endpoint']?.['secondary-addresses'] ?? []),
  ].filter((p) => p !== undefined);
  return paths.length > 0 && paths.every(pathOk);
}

/** The failing paths of a node, e.g. `health-endpoint 10.0.1.5 icmp: no answer in 1000 ms`. */
export function failures(n: NodeStatus): string[] {
  const out: string[] = [];
  const of = (what: string, p: PathStatus | undefined) => {
    for (const proto of ['icmp', 'http'] as const) {
      const s = p?.[proto];
      if (p && s && s.status !== '') out.push(`${what} ${p.ip ?? ''} ${proto}: ${s.status}`);
    }
  };
  of('host', n.host?.['primary-address']);
  for (const p of n.host?.['secondary-addresses'] ?? []) of('host', p);
  of('health-endpoint', n['health-endpoint']?.['primary-address']);
  for (const p of n['health-endpoint']?.['secondary-addresses'] ?? []) of('health-endpoint', p);
  return out;
}
