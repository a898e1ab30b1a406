import type { FlagInfo } from './config.js';

/** A command line split into flags (name → text, or true when bare) and positional words. */
export interface ParsedArgs {
  readonly flags: Record<string, string | true>;
  readonly positionals: string[];
}

/**
 * Parses `--name=value`, `--name value` and bare boolean `--name`. Which flags are boolean
 * comes from `known`; unknown flags are kept (with their `=value` if any) for validation
 * to report by name.
 */
export function parseArgs(argv: readonly string[], known: readonly FlagInfo[]): ParsedArgs {
  const isBool = new Map(known.map((f) => [f.name, f.spec.schema.type === 'boolean']));
  const flags: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '--') {
      positionals.push(a);
      continue;
    }
    const body = a.slice(2);
    const eq = body.indexOf('=');
    if (eq >= 0) {
      flags[body.slice(0, eq)] = body.slice(eq + 1);
      continue;
    }
    const next = argv[i + 1];
    if (isBool.get(body) === false && next !== undefined && !next.startsWith('--')) {
      flags[body] = next;
      i++;
    } else flags[body] = true;
  }
  return { flags, positionals };
}

/** The `--help` text: every flag of every cell, grouped by module, with defaults and env names. */
export function flagHelp(flags: readonly FlagInfo[]): string {
  const byModule = new Map<string, FlagInfo[]>();
  for (const f of flags) byModule.set(f.module, [...(byModule.get(f.module) ?? []), f]);
  const out: string[] = [];
  for (const [module, fs] of [...byModule].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`${module}:`);
    for (const f of fs) {
      const def = f.spec.format(f.spec.default);
      const kind = (f.spec.schema['x-kind'] ?? f.spec.schema.type) as string;
      const type = f.spec.schema.enum ? (f.spec.schema.enum as string[]).join('|') : kind;
      const mutable = f.spec.mutable ? ', changeable at runtime' : '';
      out.push(`  --${f.name} ${type === 'boolean' ? '' : `<${type}>`}`.trimEnd());
      out.push(`      ${f.spec.description} (default ${def === '' ? '""' : def}${mutable})`);
    }
  }
  return out.join('\n');
}
