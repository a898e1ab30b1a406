// Helper run inside a test's node namespace (nsenter --net=...): loads an object with every map
// the agent shares with its programs (the agent's, the load balancer's, conntrack's) pinned
// under a pin dir, and attaches its programs to tc hooks, as the agent does for bpf_host on
// --devices and for bpf_lxc on endpoints. Prints the attached program ids as JSON.
// Usage: attach-host.ts <pin-dir> <object> <program>:<ingress|egress>:<ifname>...
import { ifIndex, loadObject, openMap, tcAttach, tcQuery } from '../../core/bpf/index.js';
import { AGENT_MAPS } from '../../cells/maps/index.js';
import { LB_MAPS } from '../../cells/loadbalancer/maps.js';
import { CT_MAPS } from '../../cells/conntrack/maps.js';

const [pinDir = '', object = '', ...hooks] = process.argv.slice(2);
const maps = [...AGENT_MAPS, ...LB_MAPS, ...CT_MAPS].map((spec) =>
  openMap(spec as never, { backend: 'kernel', pinDir }),
);
const obj = loadObject(
  object,
  maps.map((m) => m.raw),
  { onlyDeclared: true },
);
const ids: Record<string, number | undefined> = {};
for (const h of hooks) {
  const [program = '', dir = '', ifname = ''] = h.split(':');
  if (dir !== 'ingress' && dir !== 'egress') throw new Error(`bad hook ${h}`);
  const ifindex = ifIndex(ifname);
  if (ifindex === 0) throw new Error(`no interface ${ifname}`);
  tcAttach(ifindex, dir, obj.program(program));
  ids[h] = tcQuery(ifindex, dir);
}
console.log(JSON.stringify(ids));
obj.close();
for (const m of maps) m.close();
