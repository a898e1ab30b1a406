import type { Command } from 'commander';
import type { Model } from '../../../core/api/types.js';
import { print, withClient } from './common.js';
import { endpointTable } from './endpoint.js';
import { statusText, table } from './render.js';

type DebugInfo = Model<'DebugInfo'>;

function section(title: string, body: string): string {
  return body === '' ? `\n#### ${title}\n` : `\n#### ${title}\n\n\`\`\`\n${body}\n\`\`\`\n`;
}

function serviceTable(svcs: readonly Model<'Service'>[]): string {
  return table(
    ['ID', 'FRONTEND', 'BACKENDS'],
    svcs.map((s) => {
      const fe = s.spec?.['frontend-address'];
      const bes = s.spec?.['backend-addresses'] ?? [];
      return [
        String(s.spec?.id ?? ''),
        fe ? `${fe.ip ?? ''}:${fe.port ?? 0}` : '',
        bes.map((b) => `${b.ip}:${b.port ?? 0}`).join(', '),
      ];
    }),
  );
}

function wireguardText(d: DebugInfo): string {
  const wg = d.encryption?.wireguard;
  if (!wg) return '';
  const lines = [`node encryption: ${wg['node-encryption'] ?? ''}`];
  for (const i of wg.interfaces ?? []) {
    lines.push(`interface: ${i.name ?? ''}`, `  public key: ${i['public-key'] ?? ''}`);
    lines.push(`  listening port: ${i['listen-port'] ?? 0}`);
    for (const peer of i.peers ?? []) {
      lines.push(`peer: ${peer['public-key'] ?? ''}`, `  endpoint: ${peer.endpoint ?? ''}`);
      lines.push(`  allowed ips: ${(peer['allowed-ips'] ?? []).join(', ')}`);
    }
  }
  return lines.join('\n');
}

/** The debug info as Cilium's `debuginfo` prints it: markdown sections, one per subject. */
export function debugInfoText(d: DebugInfo): string {
  const out = ['# Cellium debug information'];
  out.push(section('Cellium version', d['cilium-version'] ?? ''));
  out.push(section('Kernel version', d['kernel-version'] ?? ''));
  if (d['cilium-status']) out.push(section('Cellium status', statusText(d['cilium-status'], true)));
  out.push(section('Cellium environment keys', (d['environment-variables'] ?? []).join('\n')));
  out.push(section('Endpoint list', endpointTable(d['endpoint-list'] ?? [])));
  out.push(section('Service list', serviceTable(d['service-list'] ?? [])));
  const policy = d.policy;
  out.push(
    section('Policy get', `:\n ${policy?.policy ?? ''}\nRevision: ${policy?.revision ?? 0}`),
  );
  out.push(section('Cellium memory map', d['cilium-memory-map'] ?? ''));
  if (d['cilium-nodemonitor-memory-map']) {
    out.push(section('Cellium nodemonitor memory map', d['cilium-nodemonitor-memory-map']));
  }
  for (const [name, text] of Object.entries(d.subsystem ?? {}).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    out.push(section(name, text));
  }
  out.push(section('Cellium encryption', ''));
  const wg = wireguardText(d);
  if (wg !== '') out.push(`##### WireGuard\n\n\`\`\`\n${wg}\n\`\`\`\n`);
  return out.join('\n');
}

/** `cellium debuginfo`: everything the agent tells about itself (GET /debuginfo). */
export function registerDebugInfo(program: Command): void {
  program
    .command('debuginfo')
    .description('Request the debugging information of the agent (markdown; -o json: the model)')
    .action(async (_: unknown, cmd: Command) => {
      const d = await withClient(cmd, (api) => api.getDebuginfo());
      print(cmd, d, () => debugInfoText(d));
    });
}
