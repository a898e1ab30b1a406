import type { Model } from '../../../core/api/types.js';

type ModuleHealth = Model<'ModuleHealth'>;

/** Renders rows as left-aligned columns under a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function ago(iso: string | undefined, now: number): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

interface Node {
  name: string;
  status?: ModuleHealth;
  children: Map<string, Node>;
}

/** The cell health tree, as `cellium status` prints it. */
export function healthTree(modules: readonly ModuleHealth[], now = Date.now()): string {
  const root: Node = { name: '', children: new Map() };
  for (const m of modules) {
    let n = root;
    for (const part of (m['module-id'] ?? '').split('.')) {
      let c = n.children.get(part);
      if (!c) {
        c = { name: part, children: new Map() };
        n.children.set(part, c);
      }
      n = c;
    }
    n.status = m;
  }
  const out: string[] = [];
  const walk = (n: Node, prefix: string, last: boolean, top: boolean): void => {
    const s = n.status;
    const label = s
      ? `${n.name} [${(s.level ?? 'ok').toUpperCase()}] ${s.message ?? ''}${s.error ? `: ${s.error}` : ''} (${ago(s['last-updated'], now)}, x${s.count ?? 1})`
      : n.name;
    out.push(top ? label : `${prefix}${last ? '└── ' : '├── '}${label}`);
    const kids = [...n.children.values()];
    kids.forEach((k, i) => {
      walk(k, top ? '' : prefix + (last ? '    ' : '│   '), i === kids.length - 1, false);
    });
  };
  for (const top of root.children.values()) walk(top, '', true, true);
  return out.join('\n');
}

/** Cilium's "how long ago" of a controller's timestamps: `never` when absent. */
function since(iso: string | undefined, now: number): string {
  return iso ? `${ago(iso, now)} ago` : 'never';
}

/**
 * `Controller Status: N/M healthy` as Cilium's CLI prints it (a controller with consecutive
 * failures is unhealthy), then a table of the unhealthy ones, or of all of them with `all`.
 */
export function controllersText(
  controllers: Model<'ControllerStatuses'>,
  all: boolean,
  now = Date.now(),
): string {
  const failing = controllers.filter((c) => (c.status?.['consecutive-failure-count'] ?? 0) > 0);
  const lines = [
    `${'Controller Status:'.padEnd(20)}${controllers.length - failing.length}/${controllers.length} healthy`,
  ];
  const shown = (all ? controllers : failing)
    .map((c) => [
      `  ${c.name ?? ''}`,
      since(c.status?.['last-success-timestamp'], now),
      since(c.status?.['last-failure-timestamp'], now),
      String(c.status?.['consecutive-failure-count'] ?? 0),
      c.status?.['last-failure-msg'] || 'no error',
    ])
    .sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
  if (shown.length > 0) {
    lines.push(table(['  Name', 'Last success', 'Last error', 'Count', 'Message'], shown));
  }
  return lines.join('\n');
}

/** The human-readable `cellium status`. */
export function statusText(
  s: Model<'StatusResponse'>,
  verbose: boolean,
  opts: { readonly allControllers?: boolean; readonly now?: number } = {},
): string {
  const rows: [string, Model<'Status'> | undefined][] = [
    ['KVStore', s.kvstore],
    ['BGP', s.bgp],
    ['Kubernetes', s.kubernetes],
    ['Container runtime', s['container-runtime']],
    ['Cellium', s.cilium],
  ];
  const lines = rows.map(([k, v]) =>
    `${`${k}:`.padEnd(20)}${v?.state ?? 'Unknown'}   ${v?.msg ?? ''}`.trimEnd(),
  );
  // As Cilium's: each probe that has not answered, and since when.
  const stale = Object.entries(s.stale ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (stale.length > 0) {
    lines.push(
      `${'Stale status:'.padEnd(20)}${stale.map(([p, t]) => `"${p}" since ${t}`).join(', ')}`,
    );
  }
  const ipam = s.ipam;
  if (ipam?.allocations) {
    lines.push(`${'IPAM:'.padEnd(20)}${Object.keys(ipam.allocations).length} allocated`);
  }
  const r = s.routing;
  if (r?.['inter-host-routing-mode']) {
    // As Cilium's: `Network: Tunnel [vxlan]   Host: BPF`.
    const proto = r['tunnel-protocol'] ? ` [${r['tunnel-protocol']}]` : '';
    lines.push(
      `${'Routing:'.padEnd(20)}Network: ${r['inter-host-routing-mode']}${proto}   Host: ${r['intra-host-routing-mode'] ?? 'BPF'}`,
    );
  }
  if (s.controllers)
    lines.push(controllersText(s.controllers, opts.allControllers === true, opts.now));
  const modules = s['modules-health']?.modules ?? [];
  const bad = modules.filter((m) => m.level !== 'ok');
  lines.push(`${'Modules health:'.padEnd(20)}${modules.length - bad.length}/${modules.length} ok`);
  if (verbose || bad.length > 0) lines.push(healthTree(verbose ? modules : bad));
  return lines.join('\n');
}
