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

/** The human-readable `cellium status`. */
export function statusText(s: Model<'StatusResponse'>, verbose: boolean): string {
  const rows: [string, Model<'Status'> | undefined][] = [
    ['KVStore', s.kvstore],
    ['Kubernetes', s.kubernetes],
    ['Container runtime', s['container-runtime']],
    ['Cellium', s.cilium],
  ];
  const lines = rows.map(([k, v]) =>
    `${`${k}:`.padEnd(20)}${v?.state ?? 'Unknown'}   ${v?.msg ?? ''}`.trimEnd(),
  );
  const ipam = s.ipam;
  if (ipam?.allocations) {
    lines.push(`${'IPAM:'.padEnd(20)}${Object.keys(ipam.allocations).length} allocated`);
  }
  const modules = s['modules-health']?.modules ?? [];
  const bad = modules.filter((m) => m.level !== 'ok');
  lines.push(`${'Modules health:'.padEnd(20)}${modules.length - bad.length}/${modules.length} ok`);
  if (verbose || bad.length > 0) lines.push(healthTree(verbose ? modules : bad));
  return lines.join('\n');
}
