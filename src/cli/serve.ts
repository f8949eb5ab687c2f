// `skip-server serve`: run the Key Provider.

import { createLogger, LEVELS, type Level, type Logger } from '../log.js';
import type { Config } from '../config/load.js';
import { CORE_FIX, suppressCoreDumps, type CoreDumpState } from '../core-dumps.js';
import { masterKeyFromEnv } from '../keystore/master-key.js';
import { exposedSecretFiles } from '../config/secret-files.js';
import { startServer } from '../server.js';
import { CONFIG_OPTION, EXIT, UsageError, kemFromEnv, readConfig, str, type Command } from './common.js';

export const serve: Command = {
  name: 'serve',
  summary: 'Run the Key Provider: encryptor API (TLS-PSK or certificates), peer link (mTLS).',
  synopsis: '--config FILE [--host ADDR] [--port PORT] [--log-level LEVEL]',
  about: `Run the Key Provider: the encryptor API over TLS-PSK (or certificates) and the peer
listener over mutual TLS. Logs are JSON lines on stdout. SIGHUP re-reads the PSK file, this
KP's own ML-KEM pair (the previous private key is still accepted for kem_key_grace_seconds)
and the peers' public keys, keeping whatever is broken as it was; SIGTERM and SIGINT stop it.
"skip-server --config FILE" is the same (the reference Key Provider's form).`,
  options: {
    ...CONFIG_OPTION,
    host: { type: 'string', arg: 'ADDR', help: 'bind address for the encryptor listener (overrides "host")' },
    port: {
      type: 'string',
      arg: 'PORT',
      help: 'encryptor listener port (overrides "port"; 0 picks a free one)',
    },
    'log-level': {
      type: 'string',
      arg: 'LEVEL',
      help: 'debug, info, warn or error (overrides "log_level"; default info)',
    },
  },
  async run(values, io) {
    const level = str(values['log-level']);
    if (level !== undefined && !(LEVELS as readonly string[]).includes(level))
      throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}, not "${level}"`);
    // Before any secret is read: a core dump must never hold one.
    const cores = suppressCoreDumps();
    const kem = kemFromEnv();
    const config = configWithOverrides(values, 'serve');
    const log = createLogger({ level: (level as Level | undefined) ?? config.log_level });
    reportCoreDumps(cores, log);
    warnAboutSecrets(config, log);
    const masterKey = masterKeyFromEnv();
    const server = await startServer(config, { log, kem, masterKey });
    io.onServing?.(server);
    return EXIT.ok;
  },
};

/** The config with --host and --port applied. */
export function configWithOverrides(values: Parameters<Command['run']>[0], command: string): Config {
  const host = str(values.host);
  const portText = str(values.port);
  let port: number | undefined;
  if (portText !== undefined) {
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 0 && port <= 65535))
      throw new UsageError(`--port must be a number from 0 to 65535, not "${portText}"`);
  }
  const config = readConfig(values, command);
  if (host !== undefined) config.host = host;
  if (port !== undefined) config.port = port;
  return config;
}

/** Start-up warnings about where secrets are exposed (docs/security.md). */
function warnAboutSecrets(config: Config, log: Logger): void {
  if (process.env.KEYSTORE_MASTER_KEY !== undefined) {
    log.warn('master key read from the environment', {
      note:
        'KEYSTORE_MASTER_KEY stays readable in /proc/PID/environ by this user and root for the life ' +
        'of the process; prefer KEYSTORE_MASTER_KEY_FILE (systemd LoadCredential, or a 0600 file)',
    });
  }
  for (const f of exposedSecretFiles(config, process.env.KEYSTORE_MASTER_KEY_FILE))
    log.warn('secret file readable by others', { ...f, fix: f.fix });
}

/** Says whether core dumps were turned off at start, and warns when they are still on. */
function reportCoreDumps(s: CoreDumpState, log: Logger): void {
  if (!s.before || !s.after || s.before.soft === 0) return;
  const limit = (n: number): string | number => (n === Infinity ? 'unlimited' : n);
  if (s.after.soft === 0) log.info('core dumps disabled', { was: limit(s.before.soft) });
  else
    log.warn('core dumps enabled', {
      limit: limit(s.after.soft),
      note: 'a crash would write PSKs and keys to disk',
      fix: CORE_FIX,
    });
}
