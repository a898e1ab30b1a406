import {
  config,
  Health,
  invoke,
  Jobs,
  Lifecycle,
  Logger,
  module,
  optional,
  provide,
  token,
} from '../../core/hive/index.js';
import { ApiRoutes } from '../api/index.js';
import { DaemonConfig, StatusContributors } from '../daemon/index.js';
import { Ipam } from '../ipam/index.js';
import { K8sResources } from '../k8s/index.js';
import { LbTables } from '../loadbalancer/index.js';
import { Metrics } from '../metrics/index.js';
import { NodeIds } from '../node/index.js';
import { StateDB } from '../statedb/index.js';
import { peers, routePolicies, routes } from './api.js';
import { BgpConfig, bgpFlags } from './config.js';
import {
  newBgpControlPlane,
  type BgpControlPlane as Cp,
  type SpeakerFactory,
} from './control-plane.js';
import { registerBgpMetrics } from './metrics.js';
import { newSpeaker } from './speaker/index.js';
import { bgpStatus } from './status.js';

/** Creates the BGP speaker: newSpeaker; tests override it with a double (speaker.memory.ts). */
export const BgpSpeakerFactory = token<SpeakerFactory>('bgp/BgpSpeakerFactory');

/** The BGP control plane (the API, status and metrics read it). */
export const BgpControlPlane = token<Cp>('bgp/BgpControlPlane');

/** BGP: this node's pod CIDRs and selected service addresses announced to its peers. */
export const bgpCell = module(
  'bgp',
  'BGP speaker announcing pod CIDRs and service addresses to routers',
  // --enable-bgp-control-plane, --bgp-config, --bgp-router-id, --bgp-listen-port
  config(BgpConfig, bgpFlags),
  provide(BgpSpeakerFactory, {}, () => newSpeaker),
  // At start: the speaker (restarting if <state-dir>/bgp-state.json says so), the policy file
  // read and watched, advertisements recomputed on frontend/pod CIDR/node label changes; at
  // stop the sessions close gracefully (peers keep the routes while the agent restarts).
  provide(
    BgpControlPlane,
    {
      config: BgpConfig,
      daemon: DaemonConfig,
      ids: NodeIds,
      ipam: Ipam,
      db: StateDB,
      tables: LbTables,
      k8s: optional(K8sResources),
      factory: BgpSpeakerFactory,
      lifecycle: Lifecycle,
      jobs: Jobs,
      health: Health,
      logger: Logger,
    },
    ({ config: c, daemon, ids, factory, k8s, ...p }) =>
      newBgpControlPlane({
        ...p,
        ...(k8s ? { k8s } : {}),
        enabled: c.enableBgpControlPlane,
        file: c.bgpConfig,
        routerId: c.bgpRouterId,
        listenPort: c.bgpListenPort,
        nodeName: daemon.nodeName,
        stateDir: daemon.stateDir,
        nodeIps: () => ids.localIps,
        newSpeaker: factory,
      }),
  ),
  // GET /v1/bgp/peers, /v1/bgp/routes, /v1/bgp/route-policies (501 while off).
  invoke('routes', { routes: ApiRoutes, cp: BgpControlPlane }, ({ routes: r, cp }) => {
    r.handle('GetBgpPeers', () => ({ status: 200, body: peers(cp) }), 'bgp');
    r.handle('GetBgpRoutes', (req) => ({ status: 200, body: routes(cp, req.query) }), 'bgp');
    r.handle(
      'GetBgpRoutePolicies',
      (req) => ({ status: 200, body: routePolicies(cp, req.query.router_asn) }),
      'bgp',
    );
  }),
  // /healthz bgp; cellium_bgp_* metrics.
  invoke(
    'status',
    { status: StatusContributors, cp: BgpControlPlane, metrics: optional(Metrics) },
    ({ status, cp, metrics }) => {
      status.add({
        status: (s) => {
          s.bgp = bgpStatus(cp);
        },
      });
      if (metrics && cp.disabled === undefined) registerBgpMetrics(metrics, cp);
    },
  ),
);
