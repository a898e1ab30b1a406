import type { Hive } from './hive.js';
import { optionalTarget, tokenName } from './token.js';

/** The text `cellium-agent hive` prints: modules, cells, tokens, flags and the start order. */
export function describeHive(hive: Hive): string {
  hive.populate();
  const out: string[] = [];
  for (const m of hive.modules) {
    const pad = '  '.repeat(m.depth);
    out.push(`${pad}Ⓜ️ ${m.id.split('.').at(-1) ?? m.id} (${m.description})`);
    for (const c of m.configs) {
      out.push(
        `${pad}    ⚙️ ${tokenName(c.token)}: ${Object.keys(c.flags)
          .map((f) => `--${f}`)
          .join(', ')}`,
      );
    }
    for (const p of m.provides) {
      const deps = Object.values(p.deps).map(tokenName);
      const vis = p.isPrivate ? ' (private)' : '';
      out.push(
        `${pad}    🚧 ${tokenName(p.token)}${vis}${deps.length ? ` ⇨ ${deps.join(', ')}` : ''}`,
      );
    }
    for (const i of m.invokes) {
      const deps = Object.values(i.deps).map(tokenName);
      out.push(`${pad}    🛠️ ${i.name}${deps.length ? ` ⇨ ${deps.join(', ')}` : ''}`);
    }
  }
  out.push('', 'Start hooks:');
  hive.hooks().forEach((h, i) => out.push(`  ${i + 1}. ${h.module} (${h.name})`));
  out.push('', 'Stop hooks:');
  [...hive.hooks()].reverse().forEach((h, i) => out.push(`  ${i + 1}. ${h.module} (${h.name})`));
  return out.join('\n') + '\n';
}

function q(s: string): string {
  return JSON.stringify(s);
}

/** A graphviz graph of modules (clusters), their provided tokens and the dependencies. */
export function dotGraph(hive: Hive): string {
  hive.populate();
  const out = ['digraph hive {', '  rankdir=LR;', '  node [shape=box, fontsize=10];'];
  const edges: string[] = [];
  hive.modules.forEach((m, n) => {
    out.push(`  subgraph cluster_${n} {`, `    label=${q(m.id)};`);
    for (const p of m.provides) out.push(`    ${q(tokenName(p.token))};`);
    for (const c of m.configs) out.push(`    ${q(tokenName(c.token))} [shape=note];`);
    for (const i of m.invokes) out.push(`    ${q(`${m.id}:${i.name}`)} [shape=ellipse];`);
    out.push('  }');
    // An optional dependency points at its token's node, dashed.
    const edge = (from: string, d: symbol): string => {
      const target = optionalTarget(d);
      return target === undefined
        ? `  ${q(from)} -> ${q(tokenName(d))};`
        : `  ${q(from)} -> ${q(tokenName(target))} [style=dashed];`;
    };
    for (const p of m.provides) {
      for (const d of Object.values(p.deps)) edges.push(edge(tokenName(p.token), d));
    }
    for (const i of m.invokes) {
      for (const d of Object.values(i.deps)) edges.push(edge(`${m.id}:${i.name}`, d));
    }
  });
  return [...out, ...edges, '}'].join('\n') + '\n';
}
