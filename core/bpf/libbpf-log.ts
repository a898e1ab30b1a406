// libbpf's own messages (its warnings, and the kernel's extended-ACK text it quotes) routed to
// a logger instead of libbpf's default printer, which writes them raw to stderr.
import { setPrintSink } from './libbpf.js';

/** libbpf's message levels (enum libbpf_print_level). */
export type LibbpfLevel = 'warn' | 'info' | 'debug';

const LEVELS: readonly LibbpfLevel[] = ['warn', 'info', 'debug'];

/** Receives one libbpf message, formatted, without the `libbpf: ` prefix or final newline. */
export type LibbpfLogger = (level: LibbpfLevel, message: string) => void;

/** Which levels are worth formatting (libbpf's debug output on an object load is long). */
export interface LibbpfLoggerOptions {
  readonly enabled?: (level: LibbpfLevel) => boolean;
}

const levelOf = (n: number): LibbpfLevel => LEVELS[n] ?? 'debug';

/** A libbpf message as a log line: the `libbpf: ` prefix and trailing newlines taken off. */
export function libbpfMessage(raw: string): string {
  return raw.replace(/^libbpf: /, '').trimEnd();
}

/**
 * Sends every libbpf message of this process to `log` (process-wide: libbpf has one printer);
 * undefined gives them back to libbpf's own stderr printer. Works before libbpf.so.1 is loaded
 * and when it cannot be; `log` throwing loses that message only.
 */
export function setLibbpfLogger(
  log: LibbpfLogger | undefined,
  opts: LibbpfLoggerOptions = {},
): void {
  if (!log) {
    setPrintSink(undefined);
    return;
  }
  const enabled = opts.enabled;
  setPrintSink({
    wants: (n) => enabled?.(levelOf(n)) ?? true,
    print: (n, raw) => log(levelOf(n), libbpfMessage(raw)),
  });
}
