import { destination, pino, type Logger as PinoLogger } from 'pino';
import { token } from './token.js';

/** The agent's structured logger (pino); each module gets a child tagged with its id. */
export type Logger = PinoLogger;

/** The module-scoped logger. */
export const Logger = token<Logger>('hive/Logger');

/** Creates the root logger: JSON lines on stderr, or silent for tests. */
export function newRootLogger(opts: { level?: string; silent?: boolean } = {}): Logger {
  if (opts.silent) return pino({ level: 'silent' });
  return pino({ level: opts.level ?? 'info', base: undefined }, destination({ fd: 2, sync: true }));
}
