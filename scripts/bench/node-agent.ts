// What the benches that run the built programs in node namespaces share: the agent started in a
// node's namespace, and a pod added through the built cellium-cni as a runtime adds it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The built agent in a node namespace (no kubelet port: benches run several), logging to `log`
 * (emptied first), once its hive has started.
 */
export async function startNodeAgent(
  node: string,
  args: readonly string[],
  log: string,
): Promise<ChildProcess> {
  // Logs go to a file: nothing reads them while the bench runs.
  writeFileSync(log, '');
  const out = openSync(log, 'a');
  const proc = spawn(
    'nsenter',
    [
      `--net=/run/netns/${node}`,
      process.execPath,
      join(ROOT, 'dist/cellium-agent.cjs'),
      '--agent-health-port=0',
      ...args,
    ],
    { stdio: ['ignore', 'ignore', out] },
  );
  closeSync(out);
  while (!readFileSync(log, 'utf8').includes('"hive started"')) {
    if (proc.exitCode !== null) throw new Error(`agent exited: ${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return proc;
}

/** Adds the pod of namespace `pod` (named `name`) through the built cellium-cni; its IPv4. */
export function cniAdd(node: string, socket: string, pod: string, name = pod): string {
  const r = spawnSync(
    'nsenter',
    [`--net=/run/netns/${node}`, process.execPath, join(ROOT, 'dist/cellium-cni.cjs')],
    {
      input: JSON.stringify({
        cniVersion: '1.0.0',
        name: 'cellium',
        type: 'cellium-cni',
        'socket-path': socket,
      }),
      encoding: 'utf8',
      env: {
        ...process.env,
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: `bench-${pod}`,
        CNI_NETNS: `/run/netns/${pod}`,
        CNI_IFNAME: 'eth0',
        CNI_ARGS: `K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${name}`,
      },
    },
  );
  const ip = (JSON.parse(r.stdout || '{}') as { ips?: { address?: string }[] }).ips?.[0]?.address;
  if (r.status !== 0 || ip === undefined)
    throw new Error(`CNI ADD ${name}: ${r.stdout}${r.stderr}`);
  return ip.split('/')[0] ?? ip;
}
