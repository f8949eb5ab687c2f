// Command line: finds the command, parses its own options (a mistyped one gets "did you mean"),
// prints its own --help, runs it, and maps failures to the exit codes of EXIT (also in --help
// and the README): 0 success, 1 failure at run time, 2 bad usage, 3 invalid config or file.
// Each command lives in src/cli/<command>.ts with its help beside its code.

import { parseArgs } from 'node:util';
import { suggest } from '../config/load.js';
import { ConfigError, errorMessage } from '../errors.js';
import { ListenError } from '../http/listen.js';
import { VERSION } from '../version.js';
import { certCa, certSign } from './cert.js';
import { checkConfig } from './check-config.js';
import { EXIT, EXIT_CODES, UsageError, commandHelp, type CliIo, type Command } from './common.js';
import { init } from './init.js';
import { keygen, masterKey } from './keygen.js';
import { keystoreStats } from './keystore-stats.js';
import { lab } from './lab.js';
import { probe } from './probe.js';
import { pskAdd } from './psk-add.js';
import { serve } from './serve.js';

export { EXIT, type CliIo } from './common.js';

export const COMMANDS: readonly Command[] = [
  serve,
  checkConfig,
  keygen,
  masterKey,
  init,
  pskAdd,
  certCa,
  certSign,
  keystoreStats,
  lab,
  probe,
];
const GROUPS = ['keystore', 'psk', 'cert'];

export const HELP = `skip-server ${VERSION}: Key Provider for the Secure Key Integration Protocol (SKIP)

Usage:
${COMMANDS.map((c) => `  skip-server ${c.name} ${c.synopsis}`.trimEnd()).join('\n')}
  skip-server --config FILE                    same as serve (the reference's form)
  skip-server COMMAND --help                   a command's options in full
  skip-server help | version | --help | --version

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(16)}${c.summary}`).join('\n')}

Environment:
  KEYSTORE_MASTER_KEY_FILE  file holding the keystore master key: 64 hex digits, or a passphrase
                            (16+ characters); systemd LoadCredential=, a 0600 file on IOx
  KEYSTORE_MASTER_KEY       or the key itself (stays visible in /proc/PID/environ; prefer the file)
  SKIP_KEM_BACKEND          ML-KEM implementation: auto (default: native when Node has it), native, noble

${EXIT_CODES}`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const usage = (msg: string, command?: Command): number => {
    const help = command ? `skip-server ${command.name} --help` : 'skip-server --help';
    io.err(`skip-server: ${msg}\nRun "${help}" for usage.\n`);
    return EXIT.usage;
  };
  const words = argv.slice(0, 2);
  if (['-h', '--help', 'help'].includes(argv[0] ?? '') && argv.length === 1) return (io.out(HELP), EXIT.ok);
  if (['-v', '--version', 'version'].includes(argv[0] ?? '') && argv.length === 1)
    return (io.out(`${VERSION}\n`), EXIT.ok);

  let command: Command | undefined;
  let rest: string[];
  if (argv[0] === 'help') {
    // `skip-server help COMMAND [SUB]` is `skip-server COMMAND [SUB] --help`.
    return runCli([...argv.slice(1), '--help'], io);
  } else if (argv.length === 0 || argv[0]!.startsWith('-')) {
    [command, rest] = [serve, argv];
  } else if (GROUPS.includes(words[0]!)) {
    const sub = words[1] !== undefined && !words[1].startsWith('-') ? words[1] : undefined;
    const subs = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `)).map((c) => c.name);
    command = COMMANDS.find((c) => c.name === `${words[0]} ${sub}`);
    if (!command && sub === undefined && argv.slice(1).some((a) => a === '--help' || a === '-h'))
      return (
        io.out(
          COMMANDS.filter((c) => subs.includes(c.name))
            .map(commandHelp)
            .join('\n'),
        ),
        EXIT.ok
      );
    if (!command)
      return usage(
        sub === undefined
          ? `"${words[0]}" needs a subcommand: ${subs.join(', ')}`
          : `unknown command "${words[0]} ${sub}"; the ${words[0]} commands: ${subs.join(', ')}`,
      );
    rest = argv.slice(2);
  } else {
    command = COMMANDS.find((c) => c.name === words[0]);
    if (!command) {
      const hint = suggest(words[0]!, [...COMMANDS.map((c) => c.name.split(' ')[0]!), 'help', 'version']);
      return usage(`unknown command "${words[0]}"${hint ? `; did you mean "${hint}"?` : ''}`);
    }
    rest = argv.slice(1);
  }

  const options = { ...command.options, help: { type: 'boolean' as const, short: 'h', help: '' } };
  for (const token of rest) {
    if (token === '--') break;
    const name = /^--([^=]+)/.exec(token)?.[1];
    if (name !== undefined && !Object.hasOwn(options, name)) {
      const hint = suggest(name, Object.keys(options));
      return usage(
        `unknown option --${name} for "${command.name}"${hint ? `; did you mean --${hint}?` : ''}`,
        command,
      );
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options });
  } catch (e) {
    return usage(
      errorMessage(e)
        .split('\n')[0]!
        .replace(/ To specify a positional.*$/, ''),
      command,
    );
  }
  if (parsed.values.help === true) return (io.out(commandHelp(command)), EXIT.ok);
  if (parsed.positionals.length > 0)
    return usage(`unexpected argument "${parsed.positionals[0]}" for "${command.name}"`, command);

  try {
    return await command.run(parsed.values, io);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message, command);
    if (e instanceof ConfigError) {
      if (e.problems.length === 1) io.err(`skip-server: ${e.problems[0]}\n`);
      else {
        io.err(`skip-server: configuration problems:\n`);
        for (const p of e.problems) io.err(`  ${p}\n`);
      }
      return EXIT.config;
    }
    if (e instanceof ListenError) return (io.err(`skip-server: ${e.message}\n`), EXIT.runtime);
    throw e;
  }
}
