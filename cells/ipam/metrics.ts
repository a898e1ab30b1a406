import type { Metrics } from '../metrics/index.js';
import type { Ipam } from './ipam.js';

/**
 * The IPAM cell's metrics, read from its pools when scraped: Cilium's `ip_addresses{family}`
 * (allocated) and `ipam_capacity{family}`, and the addresses still free (`ipam_free`).
 */
export function registerIpamMetrics(p: {
  readonly metrics: Metrics | undefined;
  readonly ipam: Ipam;
}) {
  const { metrics, ipam } = p;
  if (!metrics) return;
  const each = (f: (pool: { inUse: number; capacity: number }) => number) => () =>
    [...ipam.pools].map(([family, pool]) => [{ family }, f(pool)] as const);
  metrics.gaugeFrom({
    name: 'cellium_ip_addresses',
    help: 'Number of allocated IP addresses, by family',
    labelNames: ['family'],
    read: each((pool) => pool.inUse),
  });
  metrics.gaugeFrom({
    name: 'cellium_ipam_capacity',
    help: 'Number of IP addresses the node can hand out, by family',
    labelNames: ['family'],
    read: each((pool) => pool.capacity),
  });
  metrics.gaugeFrom({
    name: 'cellium_ipam_free',
    help: 'Number of IP addresses still free to hand out, by family',
    labelNames: ['family'],
    read: each((pool) => pool.capacity - pool.inUse),
  });
}
