import type { Command } from 'commander';
import { print, withClient } from './common.js';
import { table } from './render.js';

/**
 * `cellium node list`: the nodes the agent knows (GET /cluster/nodes), as Cilium's
 * `cilium-dbg node list`: one line per node sorted by name; `-o json` prints the node list.
 */
export function registerNode(program: Command): void {
  const node = program.command('node').description('The nodes of the cluster this agent knows');
  node
    .command('list')
    .alias('ls')
    .description('List nodes: addresses, pod CIDRs and where each was learned')
    .action(async (_: unknown, cmd: Command) => {
      const status = await withClient(cmd, (api) => api.getClusterNodes());
      const nodes = status['nodes-added'] ?? [];
      print(cmd, nodes, () =>
        table(
          ['Name', 'IPv4 Address', 'Endpoint CIDR', 'IPv6 Address', 'Endpoint CIDR', 'Source'],
          nodes
            .map((n) => {
              const v4 = n['primary-address']?.ipv4;
              const v6 = n['primary-address']?.ipv6;
              return [
                n.name ?? '',
                v4?.ip ?? '',
                v4?.['alloc-range'] ?? '',
                v6?.ip ?? '',
                v6?.['alloc-range'] ?? '',
                n.source ?? '',
              ];
            })
            .sort((a, b) => (a.join('\t') < b.join('\t') ? -1 : 1)),
        ),
      );
    });
}
