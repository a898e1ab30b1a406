import { program, run, type Run } from './procs.js';

/** Pods of one node, for running the CNI plugin as a container runtime does. */
export interface CniOptions {
  /** The node's network namespace (under /run/netns), where the plugin runs. */
  readonly node: string;
  /** The agent's API socket. */
  readonly socket: string;
  /** The pods' network namespaces (under /run/netns). */
  readonly pods: readonly string[];
  /** A unique suffix for the container ids. */
  readonly id: string;
  /** How to run cellium-cni: its sources by default, or e.g. the built dist/cellium-cni.cjs. */
  readonly plugin?: readonly string[];
}

/**
 * Runs `cellium-cni` for pod `i` (container `ctr-<id>-<i>`, pod `default/pod<i>`, `eth0`),
 * with the network configuration on stdin, as a runtime would.
 */
export function cniRunner(o: CniOptions): (command: string, i: number) => Promise<Run> {
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cellium',
    type: 'cellium-cni',
    'socket-path': o.socket,
  });
  return (command, i) =>
    run(
      ['nsenter', `--net=/run/netns/${o.node}`, ...(o.plugin ?? program('cellium-cni'))],
      {
        CNI_COMMAND: command,
        CNI_CONTAINERID: `ctr-${o.id}-${i}`,
        CNI_NETNS: `/run/netns/${o.pods[i] ?? `no-such-pod-${i}`}`,
        CNI_IFNAME: 'eth0',
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod${i}`,
        CNI_PATH: '/opt/cni/bin',
      },
      conf,
    );
}

/** The IPv4 address (without prefix length) a successful CNI ADD gave its pod. */
export function addedIPv4(r: Run): string {
  const ip = (JSON.parse(r.stdout) as { ips?: { address?: string }[] }).ips?.[0]?.address;
  if (ip === undefined) throw new Error(`no IP in the CNI result: ${r.stdout}`);
  return ip.split('/')[0] ?? ip;
}
