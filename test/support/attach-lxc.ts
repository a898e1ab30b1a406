// Helper run inside a test's node namespace (nsenter --net=...): loads bpf_lxc with the
// pinned maps under a pin dir and attaches it to an interface's tc ingress and egress.
// Usage: attach-lxc.ts <pin-dir> <ifname> <object>
import { ifIndex, loadObject, openMap, tcAttach, tcQuery } from '../../core/bpf/index.js';
import { AGENT_MAPS } from '../../cells/maps/index.js';

const [pinDir = '', ifname = '', object = ''] = process.argv.slice(2);
const maps = AGENT_MAPS.map((spec) => openMap(spec as never, { backend: 'kernel', pinDir }));
const obj = loadObject(
  object,
  maps.map((m) => m.raw),
);
const ifindex = ifIndex(ifname);
if (ifindex === 0) throw new Error(`no interface ${ifname}`);
tcAttach(ifindex, 'ingress', obj.program('cil_from_container'));
tcAttach(ifindex, 'egress', obj.program('cil_to_container'));
console.log(
  JSON.stringify({ ingress: tcQuery(ifindex, 'ingress'), egress: tcQuery(ifindex, 'egress') }),
);
obj.close();
for (const m of maps) m.close();
