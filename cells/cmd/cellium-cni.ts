#!/usr/bin/env node
// cellium-cni: the CNI plugin the container runtime runs per pod (CNI spec 1.0.0).
// This build answers VERSION; ADD, DEL, CHECK and STATUS arrive with the endpoint cell.
import { readFileSync } from 'node:fs';
import { celliumVersion } from '../../core/version.js';

const SUPPORTED = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

function readStdin(): string {
  try {
    return process.stdin.isTTY ? '' : readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function reply(obj: unknown, code = 0): never {
  process.stdout.write(JSON.stringify(obj) + '\n');
  process.exit(code);
}

const command = process.env.CNI_COMMAND ?? '';
if (command === 'VERSION') {
  reply({ cniVersion: '1.0.0', supportedVersions: SUPPORTED });
}
if (command === '') {
  process.stderr.write(
    `cellium-cni ${celliumVersion()}: CNI plugin; run by the container runtime with CNI_COMMAND set\n`,
  );
  process.exit(1);
}
let cniVersion = '1.0.0';
try {
  const conf = JSON.parse(readStdin() || '{}') as { cniVersion?: string };
  cniVersion = conf.cniVersion ?? cniVersion;
} catch {
  reply({ cniVersion, code: 6, msg: 'failed to decode the network configuration on stdin' }, 1);
}
reply(
  {
    cniVersion,
    code: 100,
    msg: `CNI_COMMAND ${command} is not supported by this cellium-cni build`,
    details: 'this build answers VERSION only; pod networking comes with the endpoint cell',
  },
  1,
);
