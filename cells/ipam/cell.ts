import {
  config,
  Health,
  invoke,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
} from '../../core/hive/index.js';
import { ApiError, shown } from '../../core/api/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { K8sResources } from '../k8s/index.js';
import { hostAddressing, mapErrors, postIpam } from './api.js';
import { Metrics } from '../metrics/index.js';
import { ipamFlags, IpamConfig } from './config.js';
import { Ipam, newIpam } from './ipam.js';
import { registerIpamMetrics } from './metrics.js';

/** Pod IPs from this node's pod CIDRs (cluster-pool or kubernetes), with Cilium's IPAM API. */
export const ipamCell = module(
  'ipam',
  'Pod IP addresses from the node pod CIDRs',
  // --ipam, --enable-ipv4/6, --ipv4-range, --ipv6-range, --ipam-expiration
  config(IpamConfig, ipamFlags),
  // The allocator: next/specific/release, endpoint claims, restore, expiring unclaimed IPs; with
  // --ipam=kubernetes its pools wait for this node's Node object's podCIDRs.
  provide(
    Ipam,
    {
      config: IpamConfig,
      daemon: DaemonConfig,
      k8s: optional(K8sResources),
      lifecycle: Lifecycle,
      health: Health,
      logger: Logger,
    },
    ({ daemon, ...p }) => newIpam({ ...p, nodeName: daemon.nodeName }),
  ),
  invoke('routes', { routes: ApiRoutes, ipam: Ipam }, ({ routes, ipam }) => {
    routes.handle(
      'PostIpam',
      async (req) => ({ status: 201, body: await postIpam(ipam, req) }),
      'ipam',
    );
    routes.handle(
      'PostIpamIP',
      async (req) => {
        await mapErrors(() => ipam.allocateIp(req.params.ip, req.query.owner ?? ''));
        return { status: 200 };
      },
      'ipam',
    );
    routes.handle(
      'DeleteIpamIP',
      async (req) => {
        const freed = await mapErrors(() => ipam.release(req.params.ip));
        if (freed.length === 0) throw new ApiError(404, `${shown(req.params.ip)} is not allocated`);
        return { status: 200 };
      },
      'ipam',
    );
  }),
  // cellium_ip_addresses, cellium_ipam_capacity, cellium_ipam_free, read when scraped.
  invoke('metrics', { metrics: optional(Metrics), ipam: Ipam }, registerIpamMetrics),
  invoke(
    'status',
    { status: StatusContributors, ipam: Ipam, cfg: IpamConfig },
    ({ status, ipam, cfg }) =>
      status.add({
        status: (s) => {
          const allocations = ipam.allocations();
          const ips = Object.keys(allocations);
          s.ipam = {
            allocations,
            ipv4: ips.filter((ip) => !ip.includes(':')),
            ipv6: ips.filter((ip) => ip.includes(':')),
            status: [...ipam.pools.values()]
              .map((p) => `${p.cidr}: ${p.inUse}/${p.capacity}`)
              .join(', '),
          };
        },
        config: (c) => {
          c['ipam-mode'] = cfg.ipam;
          c.addressing = hostAddressing(ipam);
        },
        // Kubernetes mode: not ready while the Node's podCIDRs are awaited.
        notReady: () => ipam.waitingFor(),
      }),
  ),
);
