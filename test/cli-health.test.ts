// How `cellium status` and `cellium health status` render the health API's models.
import { describe, expect, it } from 'vitest';
import type { HealthModel } from '../core/api/types.js';
import { clusterHealthText, healthStatusText } from '../cells/cmd/cli/health.js';

const ok = (latency: number) => ({ latency, status: '', lastProbed: '2026-01-01T00:00:00Z' });
const path = (ip: string, icmp = ok(50_000), http = ok(1_500_000)) => ({ ip, icmp, http });
const status: HealthModel<'HealthStatusResponse'> = {
  local: { name: 'default/a' },
  timestamp: '2026-01-01T00:00:01.000Z',
  nodes: [
    {
      name: 'default/a',
      host: { 'primary-address': path('192.168.1.1'), 'secondary-addresses': [] },
      'health-endpoint': { 'primary-address': path('10.0.0.2'), 'secondary-addresses': [] },
    },
    {
      name: 'default/b',
      host: { 'primary-address': path('192.168.1.2'), 'secondary-addresses': [] },
      'health-endpoint': {
        'primary-address': path('10.0.1.2', {
          latency: 0,
          status: 'no answer in 1000 ms',
          lastProbed: '',
        }),
        'secondary-addresses': [],
      },
    },
  ],
};

describe('cellium health rendering', () => {
  it('status: N/M reachable with the probe time; details name the failing path', () => {
    expect(clusterHealthText(status, false)).toBe(
      'Cluster health:     1/2 reachable   (2026-01-01T00:00:01.000Z)',
    );
    const details = clusterHealthText(status, true).split('\n');
    expect(details.slice(1)).toEqual([
      '  default/b (unreachable)',
      '    health-endpoint 10.0.1.2 icmp: no answer in 1000 ms',
    ]);
    // --all-health lists the reachable nodes too.
    expect(clusterHealthText(status, true, true)).toContain('  default/a\n');
    expect(clusterHealthText({ nodes: [], timestamp: '' }, false)).toContain(
      '0/0 reachable   (no probe yet)',
    );
  });

  it('health status: one row per path with ICMP and HTTP latencies, or the error', () => {
    const text = healthStatusText(status);
    expect(text).toContain('Nodes:        1/2 reachable');
    expect(text).toMatch(/default\/a\s+host\s+192\.168\.1\.1\s+0\.050ms\s+1\.500ms/);
    expect(text).toMatch(/default\/b\s+endpoint\s+10\.0\.1\.2\s+no answer in 1000 ms\s+1\.500ms/);
  });
});
