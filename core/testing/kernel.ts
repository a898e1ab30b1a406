import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBpffs, probeKernel } from '../bpf/index.js';

/** Whether privileged (kernel) tests can run here, and if not, the one-line reason. */
export function kernelTests(): { readonly ok: boolean; readonly reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root' };
  try {
    ensureBpffs('/sys/fs/bpf');
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const p = probeKernel();
  return p.ok ? { ok: true, reason: '' } : { ok: false, reason: p.reason };
}

/** A test's own pin directory on bpffs, removed by the returned cleanup. */
export function testPinDir(): { readonly dir: string; readonly cleanup: () => void } {
  const dir = join('/sys/fs/bpf', `cellium-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
