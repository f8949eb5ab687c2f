// Command line. Exit codes (also in --help and the README):
//   0 success, 1 failure at run time, 2 bad usage, 3 invalid config or input file.

import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger } from './log.js';
import { ListenError, startServer } from './server.js';
import { loadTlsMaterial } from './tls/files.js';
import { readPskFile } from './tls/psk.js';
import { VERSION } from './version.js';

export const EXIT = { ok: 0, runtime: 1, usage: 2, config: 3 } as const;

export const HELP = `skip-server ${VERSION}: Key Provider for the Secure Key Integration Protocol (SKIP)

Usage:
  skip-server serve --config FILE [--host ADDR] [--port PORT]
  skip-server --config FILE [--host ADDR] [--port PORT]     same as serve (the reference's form)
  skip-server check-config --config FILE
  skip-server --help | --version

Commands:
  serve          Run the Key Provider: the encryptor API over TLS-PSK (or certificates).
                 Logs are JSON lines on stdout. SIGHUP re-reads the PSK file; SIGTERM stops.
  check-config   Validate the config file and the PSK, certificate and CA files it names,
                 print a summary, and exit.

Options:
  -c, --config FILE   skip.yaml (reference Python Key Provider format; see config/skip.yaml.example)
      --host ADDR     bind address for the encryptor listener (overrides "host")
      --port PORT     encryptor listener port (overrides "port"; 0 picks a free one)
  -h, --help          this text
  -v, --version       print the version

Exit codes:
  0 success   1 failure at run time (e.g. port in use)   2 bad usage   3 invalid config or file
`;

type Out = (s: string) => void;

export interface CliIo {
  out: Out;
  err: Out;
  /** Called with the running server so the caller can wire signals; main.ts does. */
  onServing?: (server: Awaited<ReturnType<typeof startServer>>) => void;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    io.err(`skip-server: ${errorMessage(e)}\nRun "skip-server --help" for usage.\n`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help) return (io.out(HELP), EXIT.ok);
  if (values.version) return (io.out(`${VERSION}\n`), EXIT.ok);
  const command = positionals[0] ?? 'serve';
  const usage = (msg: string): number => (
    io.err(`skip-server: ${msg}\nRun "skip-server --help" for usage.\n`),
    EXIT.usage
  );
  if (positionals.length > 1) return usage(`unexpected argument "${positionals[1]}"`);
  if (command !== 'serve' && command !== 'check-config') return usage(`unknown command "${command}"`);
  if (values.config === undefined) return usage(`${command} needs --config FILE`);
  let port: number | undefined;
  if (values.port !== undefined) {
    port = /^[0-9]{1,5}$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port >= 0 && port <= 65535))
      return usage(`--port must be a number from 0 to 65535, not "${values.port}"`);
  }

  try {
    const config = loadConfig(values.config);
    if (values.host !== undefined) config.host = values.host;
    if (port !== undefined) config.port = port;
    if (command === 'check-config') return checkConfig(config, io.out);
    const server = await startServer(config, { log: createLogger() });
    io.onServing?.(server);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(`skip-server: configuration problem${e.problems.length > 1 ? 's' : ''}:\n`);
      for (const p of e.problems) io.err(`  ${p}\n`);
      return EXIT.config;
    }
    if (e instanceof ListenError) return (io.err(`skip-server: ${e.message}\n`), EXIT.runtime);
    throw e;
  }
}

function checkConfig(config: ReturnType<typeof loadConfig>, out: Out): number {
  const tls = loadTlsMaterial(config);
  const psk = config.use_psk ? readPskFile(config.psk_file!) : undefined;
  const identities = psk?.size;
  for (const k of psk?.values() ?? []) k.fill(0);
  out(`${config.source}: OK\n`);
  out(`  localSystemID   ${config.localSystemID}\n`);
  out(`  remoteSystems   ${config.remoteSystems.map((r) => r.id).join(', ')}\n`);
  out(
    `  encryptors      ${config.host}:${config.port} ${psk ? `TLS-PSK, ${identities} identities` : 'certificates'}\n`,
  );
  out(`  certificate     CN=${tls.subject}, valid until ${tls.notAfter}\n`);
  return EXIT.ok;
}
