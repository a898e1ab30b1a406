// Runs cellium-health-responder inside the health endpoint's namespace: spawned from within
// withNetns (a child spawned synchronously inherits the calling thread's namespace), its stdin
// a pipe from the agent, so it exits when the agent does, even on SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/hive/index.js';
import { withNetns } from '../../core/net/index.js';

/** The responder's program and arguments: the bundle's (dist/) or the source's (through tsx). */
export function responderCommand(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, 'cellium-health-responder.cjs');
  if (existsSync(bundled)) return [process.execPath, bundled];
  const source = join(here, 'responder.ts');
  if (existsSync(source)) return [process.execPath, '--import', 'tsx', source];
  throw new Error(`cellium-health-responder not found (${bundled}; run npm run build)`);
}

/** What a responder needs. */
export interface ResponderParams {
  /** The namespace's path; also on its command line, so `ps` tells whose it is. */
  readonly netns: string;
  readonly port: number;
  readonly logger: Logger;
  /** Called when it dies without being killed, after it had been up for a while. */
  readonly onExit: () => void;
}

/** One responder process. */
export class Responder {
  /** Resolves once it listens; rejects if it exits before. */
  readonly started: Promise<void>;
  private readonly child: ChildProcess;
  private killed = false;
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(p: ResponderParams) {
    const [bin = '', ...args] = responderCommand();
    this.child = withNetns(p.netns, () =>
      spawn(bin, [...args, String(p.port), p.netns], { stdio: ['pipe', 'pipe', 'pipe'] }),
    );
    const upSince = Date.now();
    let stderr = '';
    this.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.exit = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        resolve();
        if (this.killed) return;
        p.logger.warn(
          { code, signal, stderr: stderr.trim().slice(-500) },
          'cellium-health-responder exited',
        );
        // One that dies at once is left to the controller's next run (no tight loop).
        if (Date.now() - upSince > 1000) p.onExit();
      });
    });
    this.started = new Promise((resolve, reject) => {
      this.child.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      });
      this.child.on('error', (e) => reject(new Error(`cellium-health-responder: ${e.message}`)));
      void this.exit.then(() =>
        reject(new Error(`cellium-health-responder exited: ${stderr.trim() || 'no output'}`)),
      );
    });
    this.started.catch(() => undefined);
  }

  /** Whether it is still running. */
  get running(): boolean {
    return !this.exited;
  }

  /** Kills it (SIGTERM) and resolves once it has exited. */
  async kill(): Promise<void> {
    this.killed = true;
    if (!this.exited) this.child.kill('SIGTERM');
    await this.exit;
  }
}
