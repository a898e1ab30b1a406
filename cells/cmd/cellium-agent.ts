#!/usr/bin/env node
// cellium-agent: runs the hive of cells until SIGINT/SIGTERM.
//   cellium-agent [--flag=value ...]        run the agent
//   cellium-agent hive [--dot]              print the cells, their tokens and the start order
import { ApiConfig } from '../api/index.js';
import {
  ConfigError,
  describeHive,
  dotGraph,
  flag,
  flagHelp,
  type FlagInfo,
  Hive,
  listFlags,
  parseArgs,
  WiringError,
} from '../../core/hive/index.js';
import { setLibbpfLogger } from '../../core/bpf/index.js';
import { celliumVersion } from '../../core/version.js';
import { agent } from '../agent.js';

const USAGE = `Usage: cellium-agent [hive [--dot]] [--config FILE] [--config-dir DIR] [--flag=value ...]

Runs the Cellium agent. Flags also come from CELLIUM_<FLAG> environment variables, a config
directory of one file per flag (--config-dir, as a ConfigMap mounts it) and a YAML/JSON file
(--config), in that order of precedence after the command line.`;

const COMMAND_FLAGS: FlagInfo[] = [
  {
    name: 'config',
    module: 'cellium-agent',
    spec: flag.string('', 'YAML or JSON file of flag values'),
  },
  {
    name: 'config-dir',
    module: 'cellium-agent',
    spec: flag.string('', 'Directory with one file per flag, as a ConfigMap is mounted'),
  },
  {
    name: 'dot',
    module: 'cellium-agent',
    spec: flag.bool(false, "With 'hive': print a graphviz graph"),
  },
];

// The monitor's ring reader keeps one of libuv's threadpool threads in epoll_wait (core/bpf
// RingReader.wait); with Node's default of 4, file I/O and DNS would be left 3. The pool starts
// at its first use, which comes after this line.
process.env.UV_THREADPOOL_SIZE ??= '8';

async function main(argv: string[]): Promise<number> {
  const cells = [agent];
  const known = listFlags(cells);
  const { flags, positionals } = parseArgs(argv, [...known, ...COMMAND_FLAGS]);
  if (flags.help !== undefined || positionals.includes('help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n\nFlags:\n${flagHelp([...COMMAND_FLAGS, ...known])}\n`);
    return 0;
  }
  if (flags.version !== undefined) {
    process.stdout.write(`cellium-agent ${celliumVersion()}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command !== undefined && command !== 'hive') {
    process.stderr.write(`cellium-agent: unknown command '${command}'\n${USAGE}\n`);
    return 2;
  }
  for (const f of ['config', 'config-dir'] as const) {
    if (flags[f] === true) {
      process.stderr.write(`cellium-agent: --${f} needs a value\n`);
      return 2;
    }
  }
  const dot = flags.dot !== undefined;
  delete flags.dot;
  const file = typeof flags.config === 'string' ? flags.config : undefined;
  const dir = typeof flags['config-dir'] === 'string' ? flags['config-dir'] : undefined;
  delete flags.config;
  delete flags['config-dir'];
  if (rest.length > 0) {
    process.stderr.write(`cellium-agent: unexpected argument '${rest[0] ?? ''}'\n`);
    return 2;
  }

  let hive: Hive;
  try {
    hive = new Hive(cells, {
      config: { flags, env: process.env, ...(file ? { file } : {}), ...(dir ? { dir } : {}) },
      rootId: 'agent',
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(
        `cellium-agent: invalid configuration:\n${e.issues
          .map((i) => `  --${i.flag}: ${i.message}`)
          .join('\n')}\nRun 'cellium-agent --help' to list the flags.\n`,
      );
      return 2;
    }
    throw e;
  }
  if (command === 'hive') {
    process.stdout.write(dot ? dotGraph(hive) : describeHive(hive));
    return 0;
  }
  hive.logger.info(
    { version: celliumVersion(), socket: hive.get(ApiConfig).socketPath, pid: process.pid },
    'starting cellium-agent',
  );
  // libbpf has one printer per process, so the process wires it, not a cell. Debug level: every
  // failing libbpf call also returns an errno its caller reports with context; this is detail.
  // The root logger itself, not a child, so the `debug` option's level change reaches it.
  const log = hive.logger;
  setLibbpfLogger((level, msg) => log.debug({ subsys: 'libbpf', libbpfLevel: level }, msg), {
    enabled: () => log.isLevelEnabled('debug'),
  });
  // Node opens its inspector (code execution for any local user on 127.0.0.1:9229) on SIGUSR1
  // unless someone listens; SIGHUP would kill the agent without a clean stop.
  for (const sig of ['SIGUSR1', 'SIGHUP'] as const) {
    process.on(sig, () => {
      hive.logger.warn({ signal: sig }, `${sig} ignored (SIGTERM stops the agent)`);
    });
  }
  try {
    return await hive.run();
  } catch (e) {
    hive.logger.error({ err: e }, 'agent failed');
    process.stderr.write(`cellium-agent: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const msg = e instanceof WiringError ? `wiring error: ${e.message}` : String(e);
    process.stderr.write(`cellium-agent: ${msg}\n`);
    process.exit(1);
  },
);
