import { describe, expect, it } from 'vitest';
import { allocationMode } from './mode.js';

describe('identity allocation mode', () => {
  it("follows Cilium's rules: crd in Kubernetes mode unless kvstore is asked and configured", () => {
    const cases = [
      { k8s: false, kvstore: false, mode: 'kvstore', want: 'local' },
      { k8s: false, kvstore: true, mode: 'kvstore', want: 'kvstore' },
      // crd needs Kubernetes: embedded mode keeps its behaviour.
      { k8s: false, kvstore: false, mode: 'crd', want: 'local' },
      { k8s: false, kvstore: true, mode: 'crd', want: 'kvstore' },
      // Cilium's default (kvstore) without a kvstore switches to crd.
      { k8s: true, kvstore: false, mode: 'kvstore', want: 'crd' },
      { k8s: true, kvstore: true, mode: 'kvstore', want: 'kvstore' },
      { k8s: true, kvstore: true, mode: 'crd', want: 'crd' },
      { k8s: true, kvstore: false, mode: 'crd', want: 'crd' },
    ] as const;
    for (const c of cases) expect([c, allocationMode(c)]).toEqual([c, c.want]);
  });
});
