import type { Model } from '../../core/api/index.js';
import { lbFeatures, nodePortRange, type LbConfig } from './config.js';
import type { Loadbalancer } from './runtime.js';

const on = (enabled: boolean) => ({ enabled });

/** /healthz kube-proxy-replacement: what this agent does for services, as Cilium reports it. */
export function kubeProxyReplacement(c: LbConfig, lb: Loadbalancer): Model<'KubeProxyReplacement'> {
  const f = lbFeatures(c);
  const { min, max } = nodePortRange(c);
  const devices = lb.devices();
  return {
    mode: c.kubeProxyReplacement === 'true' ? 'True' : 'False',
    devices: devices.map((d) => d.name),
    deviceList: devices.map((d) => ({ name: d.name, ip: [...d.addresses] })),
    directRoutingDevice: devices[0]?.name ?? '',
    features: {
      nodePort: {
        enabled: f.nodePort,
        mode: 'SNAT',
        dsrMode: 'IP Option/Extension',
        algorithm: c.bpfLbAlgorithm === 'maglev' ? 'Maglev' : 'Random',
        acceleration: 'None',
        portMin: min,
        portMax: max,
        lutSize: c.bpfLbMaglevTableSize,
      },
      hostPort: on(f.nodePort),
      externalIPs: on(f.nodePort),
      hostReachableServices: { enabled: f.socketLb, protocols: f.socketLb ? ['TCP', 'UDP'] : [] },
      socketLB: on(f.socketLb),
      sessionAffinity: on(c.enableSessionAffinity),
      gracefulTermination: on(true),
      nat46X64: { enabled: false, service: on(false), gateway: { enabled: false, prefixes: [] } },
      socketLBTracing: on(false),
      bpfSocketLBHostnsOnly: false,
    },
  };
}

/** /debuginfo: the load balancer in one line. */
export function lbDebug(lb: Loadbalancer): string {
  const failing = lb.reconciler.failing();
  return (
    `${lb.services.list().length} services; NodePort addresses ${lb.nodeAddresses().join(', ') || 'none'}; ` +
    `${lb.ops.writes} map writes since start; ${failing.size} failing`
  );
}
