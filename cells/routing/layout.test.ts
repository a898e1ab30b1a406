// cellium_routing as routing.h declares it, against the BTF of both programs that read it.
import { BPF_LXC_OBJECT, BPF_OVERLAY_OBJECT } from '../../core/testing/kernel.js';
import { layoutSuite } from '../../core/testing/layouts.js';
import { ROUTING_MAP } from './maps.js';

for (const object of [BPF_LXC_OBJECT, BPF_OVERLAY_OBJECT]) {
  layoutSuite(
    `routing map layout: TypeScript vs the BTF of ${object.split('/').pop() ?? ''}`,
    [ROUTING_MAP],
    {
      object,
      padding: /^pad\d*$/,
    },
  );
}
