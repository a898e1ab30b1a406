import type { Command } from 'commander';
import { print, withClient } from './common.js';
import { table } from './render.js';

/** `cellium nodeid list`: node ids and their IPs (GET /node/ids), as Cilium's `nodeid list`. */
export function registerNodeId(program: Command): void {
  const nodeid = program.command('nodeid').description('Node ids of the nodes this agent knows');
  nodeid
    .command('list')
    .alias('ls')
    .description('List node ids and the IP addresses they stand for (0 is this node)')
    .action(async (_: unknown, cmd: Command) => {
      const ids = await withClient(cmd, (api) => api.getNodeIds());
      print(cmd, ids, () =>
        table(
          ['NODE ID', 'IP ADDRESSES'],
          // One line per IP, the id on the first only, as Cilium prints it.
          ids.flatMap((n) => n.ips.map((ip, i) => [i === 0 ? String(n.id) : '', ip])),
        ),
      );
    });
}
