#!/usr/bin/env node
// cellium-cni: the CNI plugin the container runtime runs per pod (CNI spec 1.0.0/1.1.0).
// Config on stdin, CNI_* in the environment; the result or error JSON on stdout.
import { readFileSync } from 'node:fs';
import { cmdAdd, cmdCheck, cmdDel, cmdStatus, CniError, SUPPORTED_VERSIONS } from '../cni/index.js';
import { celliumVersion } from '../../core/version.js';

function stdin(): string {
  try {
    return process.stdin.isTTY ? '' : readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  const command = process.env.CNI_COMMAND ?? '';
  if (command === 'VERSION') {
    process.stdout.write(
      `${JSON.stringify({ cniVersion: '1.0.0', supportedVersions: SUPPORTED_VERSIONS })}\n`,
    );
    return 0;
  }
  if (command === '') {
    process.stderr.write(
      `cellium-cni ${celliumVersion()}: a CNI plugin; the container runtime runs it with CNI_COMMAND set\n`,
    );
    return 1;
  }
  const input = { env: process.env, stdin: stdin() };
  let cniVersion = '1.0.0';
  try {
    cniVersion =
      (JSON.parse(input.stdin || '{}') as { cniVersion?: string }).cniVersion ?? cniVersion;
  } catch {
    // reported by the command as a decode error
  }
  try {
    switch (command) {
      case 'ADD':
        process.stdout.write(`${JSON.stringify(await cmdAdd(input))}\n`);
        return 0;
      case 'DEL':
        await cmdDel(input);
        return 0;
      case 'CHECK':
        await cmdCheck(input);
        return 0;
      case 'STATUS':
        await cmdStatus(input);
        return 0;
      default:
        throw new CniError(4, `unknown CNI_COMMAND '${command}'`);
    }
  } catch (e) {
    const err =
      e instanceof CniError ? e : new CniError(999, e instanceof Error ? e.message : String(e));
    process.stdout.write(
      `${JSON.stringify({ cniVersion, code: err.code, msg: err.message, details: err.details })}\n`,
    );
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`cellium-cni: ${String(e)}\n`);
    process.exit(1);
  },
);
