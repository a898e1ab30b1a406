import { formatIp, parseIp } from '../../core/ip.js';
import { errorMessage, token, type Logger } from '../../core/hive/index.js';
import type { BpfMap } from '../../core/bpf/index.js';
import { nodeKeyOf, type NodeKey, type NodeValue } from './defs.js';

/** The smallest and largest id a remote node gets (0 is the local node, as in Cilium). */
export const MIN_NODE_ID = 1;
export const MAX_NODE_ID = 65535;

/** One node id and the IPs that map to it (GET /v1/node/ids). */
export interface NodeIdEntry {
  readonly id: number;
  readonly ips: readonly string[];
}

/** A node id could not be given or freed: a bad IP, or no id left. */
export class NodeIdError extends Error {
  override name = 'NodeIdError';
}

/** The node cell is not running (before its start or after its stop): ask again shortly. */
export class NodeIdsUnavailableError extends Error {
  override name = 'NodeIdsUnavailableError';
}

/**
 * Node ids for the node IPs the agent knows. The node cell owns it; the cells that learn about
 * other nodes (issue 12) call `allocate` when a node appears or changes and `release` when it
 * goes. Every change is written to cellium_node_map before it is visible here.
 */
export interface NodeIds {
  /**
   * The id of the node with these IPs: 0 if one is the local node's; the id any of them already
   * has (the others join it); else a new id. All IPs are in the map when it returns.
   */
  allocate(ips: readonly string[], spi?: number): number;
  /** Frees the id of the node with these IPs and removes them from the map (absent: no-op). */
  release(ips: readonly string[]): void;
  /** The id an IP maps to: 0 for the local node's IPs, undefined when unknown. */
  idOf(ip: string): number | undefined;
  /** Every id with its IPs, the local node (id 0) first, then by id. */
  list(): NodeIdEntry[];
  /** The local node's IPs (from --ipv4-node / --ipv6-node or the host's devices). */
  readonly localIps: readonly string[];
}

/** Node ids (available once the node cell has started). */
export const NodeIds = token<NodeIds>('node/NodeIds');

/** One spelling per address, or a NodeIdError naming the bad one. */
export function canonicalIp(ip: string): string {
  const p = parseIp(ip);
  if (!p) throw new NodeIdError(`'${ip}' is not an IP address`);
  return formatIp(p.family, p.value);
}

/** The allocator's state over an open node map. */
export class NodeIdTable {
  private readonly byIp = new Map<string, number>();
  private readonly byId = new Map<number, Set<string>>();
  private cursor = MIN_NODE_ID - 1;

  constructor(
    private readonly map: BpfMap<NodeKey, NodeValue>,
    readonly localIps: readonly string[],
  ) {}

  /**
   * Takes back the allocations found in the map (a restart): ids stay with their IPs so the
   * datapath's view does not change. Entries with id 0 or for a local IP are removed (the local
   * node is never in the map). Returns how many entries were restored and removed.
   */
  restore(logger: Logger): { restored: number; removed: number } {
    const local = new Set(this.localIps);
    const bad: NodeKey[] = [];
    let restored = 0;
    for (const [key, value] of this.map.entries()) {
      const ip = canonicalIp(key.ip);
      if (value.node_id === 0 || local.has(ip)) {
        bad.push(key);
        continue;
      }
      this.remember(ip, value.node_id);
      this.cursor = Math.max(this.cursor, value.node_id);
      restored++;
    }
    for (const key of bad) {
      try {
        this.map.delete(key);
      } catch (e) {
        logger.warn({ ip: key.ip }, `cannot remove a stale node map entry: ${errorMessage(e)}`);
      }
    }
    return { restored, removed: bad.length };
  }

  allocate(ips: readonly string[], spi = 0): number {
    if (ips.length === 0) throw new NodeIdError('a node needs at least one IP');
    const want = [...new Set(ips.map(canonicalIp))];
    const local = new Set(this.localIps);
    if (want.some((ip) => local.has(ip))) return 0;
    const ids = new Set(want.flatMap((ip) => this.byIp.get(ip) ?? []));
    if (ids.size > 1) {
      // IPs of two nodes now name one (a node deleted while the agent was down, its IPs
      // reused): start over with a fresh id, as Cilium does.
      this.release(want);
    }
    const id = ids.size === 1 ? (ids.values().next().value as number) : this.freeId();
    const missing = want.filter((ip) => this.byIp.get(ip) !== id || spi !== 0);
    // All of the node's IPs land in the map, or none does.
    this.map.updateAll(missing.map((ip) => [nodeKeyOf(ip), { node_id: id, spi }] as const));
    for (const ip of missing) this.remember(ip, id);
    return id;
  }

  release(ips: readonly string[]): void {
    const want = [...new Set(ips.map(canonicalIp))];
    const ids = new Set(want.flatMap((ip) => this.byIp.get(ip) ?? []));
    for (const id of ids) {
      // The whole node goes: every IP with its id, even one the caller did not name.
      for (const ip of [...(this.byId.get(id) ?? [])]) {
        this.map.delete(nodeKeyOf(ip));
        this.forget(ip);
      }
    }
  }

  idOf(ip: string): number | undefined {
    const c = canonicalIp(ip);
    if (this.localIps.includes(c)) return 0;
    return this.byIp.get(c);
  }

  /** Closes the map (its pin stays). */
  close(): void {
    this.map.close();
  }

  list(): NodeIdEntry[] {
    const out: NodeIdEntry[] = [];
    if (this.localIps.length > 0) out.push({ id: 0, ips: [...this.localIps] });
    for (const id of [...this.byId.keys()].sort((a, b) => a - b)) {
      out.push({ id, ips: [...(this.byId.get(id) ?? [])].sort() });
    }
    return out;
  }

  /** The next free id after the last one given, wrapping: a freed id is not reused at once. */
  private freeId(): number {
    const span = MAX_NODE_ID - MIN_NODE_ID + 1;
    for (let i = 1; i <= span; i++) {
      const id = MIN_NODE_ID + ((this.cursor - MIN_NODE_ID + i) % span);
      if (!this.byId.has(id)) {
        this.cursor = id;
        return id;
      }
    }
    throw new NodeIdError(
      `no node id left: all ${span} ids (${MIN_NODE_ID}-${MAX_NODE_ID}) are in use`,
    );
  }

  private remember(ip: string, id: number): void {
    const old = this.byIp.get(ip);
    if (old !== undefined) this.unlink(ip, old);
    this.byIp.set(ip, id);
    let set = this.byId.get(id);
    if (!set) this.byId.set(id, (set = new Set()));
    set.add(ip);
  }

  private forget(ip: string): void {
    const id = this.byIp.get(ip);
    if (id === undefined) return;
    this.byIp.delete(ip);
    this.unlink(ip, id);
  }

  private unlink(ip: string, id: number): void {
    const set = this.byId.get(id);
    set?.delete(ip);
    if (set?.size === 0) this.byId.delete(id);
  }
}
