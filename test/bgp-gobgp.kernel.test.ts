// Interop with gobgpd (Debian's gobgpd) in a network namespace of its own: the real agent from
// its sources announces its pod CIDRs and a LoadBalancer address; sessions both ways, withdrawal,
// router restart, graceful restart through a kill -9 of the agent, hold-timer expiry and recovery.
// Scenarios in test/support/bgp-interop.ts, shared with the other router's suite.
import { kernelSuite } from '../core/testing/kernel.js';
import { interopSuite } from './support/bgp-interop.js';
import { ROUTER_COMMANDS } from './support/bgp-routers.js';

kernelSuite('BGP interop with gobgpd', { commands: [...ROUTER_COMMANDS] }, () => {
  interopSuite('gobgpd');
});
