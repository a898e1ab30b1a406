import { chmod, chown, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';

/** Permissions of the API socket: owner and group read/write, nothing for others. */
export const SOCKET_MODE = 0o660;

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
  });
}

/**
 * Makes the socket's directory and clears a stale socket left by a crashed agent. If an agent
 * still answers on it, refuses to steal it.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  const st = await stat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  if (await answers(path)) throw new Error(`another agent is already serving on ${path}`);
  await unlink(path);
}

async function groupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const lines = (await readFile('/etc/group', 'utf8')).split('\n');
  const line = lines.find((l) => l.split(':')[0] === group);
  const gid = line?.split(':')[2];
  if (gid === undefined) throw new Error(`group '${group}' (--api-socket-group) does not exist`);
  return Number(gid);
}

/** Sets the socket's mode to 0660 and, if asked, its group. */
export async function secureSocket(path: string, group: string): Promise<void> {
  await chmod(path, SOCKET_MODE);
  if (group !== '') await chown(path, -1, await groupId(group));
}
