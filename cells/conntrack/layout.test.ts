import { BPF_LXC_OBJECT } from '../../core/testing/kernel.js';
import { layoutSuite } from '../../core/testing/layouts.js';
import { CT_MAPS } from './maps.js';

layoutSuite('CT map layouts: TypeScript vs the BTF of bpf_lxc.o', CT_MAPS, {
  object: BPF_LXC_OBJECT,
});
