import { BPF_LXC_OBJECT } from '../../core/testing/kernel.js';
import { layoutSuite } from '../../core/testing/layouts.js';
import { LB_MAPS } from './maps.js';

layoutSuite('LB map layouts: TypeScript vs the BTF of bpf_lxc.o', LB_MAPS, {
  object: BPF_LXC_OBJECT,
});
