import {
  chmod,
  chown,
  link,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import { connect, type ListenOptions, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';

/** Permissions of the API socket: owner and group read/write, nothing for others. */
export const SOCKET_MODE = 0o660;

// sun_path holds 108 bytes with its NUL; libuv silently truncates longer names.
const MAX_SOCKET_PATH = 107;

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

/** The prefix of the private directories the socket is bound in, next to the socket itself. */
function bindDirPrefix(path: string): string {
  return join(dirname(path), `.${basename(path)}.`);
}

/**
 * Makes the socket's directory and clears a stale socket (and bind directories) left by a
 * crashed agent. If an agent still answers on it, refuses to steal it.
 */
export async function prepareSocketPath(path: string, flag = '--socket-path'): Promise<void> {
  // The socket is first bound at <dir>/.<name>.XXXXXX/s, 10 bytes longer than the path itself.
  const longest = Buffer.byteLength(path) + 10;
  if (longest > MAX_SOCKET_PATH) {
    throw new Error(
      `${flag} ${path} is too long: the agent binds it at a path ${longest} bytes long, and unix socket paths are limited to ${MAX_SOCKET_PATH} bytes`,
    );
  }
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const st = await stat(path).catch(() => undefined);
  if (st && !st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  if (st && (await answers(path))) throw new Error(`another agent is already serving on ${path}`);
  if (st) await unlink(path);
  const prefix = basename(bindDirPrefix(path));
  for (const name of await readdir(dir)) {
    if (name.startsWith(prefix) && name.length === prefix.length + 6) {
      await rm(join(dir, name), { recursive: true, force: true });
    }
  }
}

async function groupId(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const lines = (await readFile('/etc/group', 'utf8')).split('\n');
  const line = lines.find((l) => l.split(':')[0] === group);
  const gid = line?.split(':')[2];
  if (gid === undefined) throw new Error(`group '${group}' (--api-socket-group) does not exist`);
  return Number(gid);
}

/**
 * Starts a server listening (a unix socket path, or TCP host and port); rejects with the
 * listen error (EADDRINUSE...) instead of leaving it to the server's 'error' event.
 */
export function listenServer(server: Server, where: string | ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Closes a server (listening or not) and its connections (an HTTP server's; a plain one's own). */
export function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  if ('closeAllConnections' in server && typeof server.closeAllConnections === 'function') {
    (server as Server & { closeAllConnections(): void }).closeAllConnections();
  }
  return closed;
}

/** Which socket file a server owns, so that stopping never removes another agent's socket. */
export interface SocketFile {
  readonly dev: number;
  readonly ino: number;
}

/**
 * Serves `server` on the unix socket `path` (mode 0660, group `group` if set) without the
 * socket ever being reachable with wider permissions, whatever the umask; on any failure the
 * server is closed and nothing is left on disk.
 */
export async function listenOnSocket(
  server: Server,
  path: string,
  group: string,
): Promise<SocketFile> {
  const gid = group === '' ? undefined : await groupId(group);
  // Race-free without touching the process-wide umask (which would also hit file creations
  // running meanwhile on libuv's thread pool): the socket is bound inside a fresh 0700
  // directory nobody else can search, secured there, and only then given its public name.
  const dir = await mkdtemp(bindDirPrefix(path));
  const bound = join(dir, 's');
  try {
    await listenServer(server, bound);
    await chmod(bound, SOCKET_MODE);
    if (gid !== undefined) await chown(bound, -1, gid);
    const st = await stat(bound);
    // link, unlike rename, never replaces what took the path meanwhile (another agent's socket).
    await link(bound, path).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      throw new Error(
        `${path} appeared while the agent was binding it: is another agent starting?`,
      );
    });
    return { dev: st.dev, ino: st.ino };
  } catch (e) {
    await closeServer(server);
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Removes the socket file at `path` if it is still `ours` (a later agent may own it by now). */
export async function removeSocket(path: string, ours: SocketFile): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (st?.dev === ours.dev && st.ino === ours.ino) await unlink(path).catch(() => undefined);
}
