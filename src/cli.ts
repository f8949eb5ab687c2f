// Command line. Exit codes (also in --help and the README):
//   0 success, 1 failure at run time, 2 bad usage, 3 invalid config or input file.

import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.js';
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { masterKeyFromEnv, newMasterKeyHex, wipeMasterKey } from './keystore/master-key.js';
import { FileKeyStore } from './keystore/store.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { exposedSecretFiles } from './secret-files.js';
import { startServer } from './server.js';
import { ListenError } from './http/listen.js';
import { loadTlsMaterial } from './tls/files.js';
import { MAX_PSK_BYTES, MIN_PSK_BYTES, readPskFile } from './tls/psk.js';
import { addPsk } from './tls/psk-add.js';
import { initKp } from './init.js';
import { VERSION } from './version.js';
import { generateKeyFiles } from './kem/keygen.js';
import { runLab } from './lab.js';
import { loadPrivateKey, readPublicKeyFile } from './kem/keys.js';
import { selectBackend, type KemBackend } from './kem/mlkem.js';

export const EXIT = { ok: 0, runtime: 1, usage: 2, config: 3 } as const;

export const HELP = `skip-server ${VERSION}: Key Provider for the Secure Key Integration Protocol (SKIP)

Usage:
  skip-server serve --config FILE [--host ADDR] [--port PORT]
  skip-server --config FILE [--host ADDR] [--port PORT]     same as serve (the reference's form)
  skip-server check-config --config FILE
  skip-server keygen --pub FILE --priv FILE [--force]
  skip-server master-key
  skip-server init --dir DIR --id NAME [--peer NAME=HOST ...] [--keystore FILE]
  skip-server psk add --file FILE --identity ID [--bytes N]
  skip-server keystore stats --config FILE
  skip-server lab [--dir DIR] [--base-port N]
  skip-server --help | --version

Commands:
  serve          Run the Key Provider: the encryptor API over TLS-PSK (or certificates).
                 Logs are JSON lines on stdout. SIGHUP re-reads the PSK file; SIGTERM stops.
  check-config   Validate the config file and the PSK, certificate, CA and ML-KEM key files it
                 names, and the master key against the keystore if it exists; print a summary.
  keygen         Write a new ML-KEM-1024 key pair (PEM, as OpenSSL 3.5 writes it; private key
                 mode 0600). Refuses to replace existing files unless --force.
  master-key     Print a new keystore master key (64 hex digits) for KEYSTORE_MASTER_KEY.
  init           Write a production Key Provider's files into DIR: skip.yaml, psk.txt, an ML-KEM
                 pair and master.key (secrets 0600); never replaces a file; prints next steps.
  psk add        Add an encryptor identity with a new random key to the PSK file (created 0600;
                 an identity already there is refused) and print the router's psk line.
                 SIGHUP makes a running skip-server load it.
  keystore stats Slots used and free, age of the oldest key, file size; never key material.
                 Needs the master key; opens the keystore read-only.
  lab            Development: run KPs alice and bob on loopback with generated secrets in DIR
                 (default ./lab, created on first run, reused after; needs the openssl command)
                 and print the openssl s_client lines that play their encryptors.

Options:
  -c, --config FILE   skip.yaml (reference Python Key Provider format; see config/skip.yaml.example);
                      default $CAF_APP_PERSISTENT_DIR/config/skip.yaml when that is set (Cisco IOx)
      --host ADDR     bind address for the encryptor listener (overrides "host")
      --port PORT     encryptor listener port (overrides "port"; 0 picks a free one)
      --pub FILE      keygen: where to write the public key (give it to the peer KPs)
      --priv FILE     keygen: where to write the private key (keep it on this KP only)
      --force         keygen: replace existing files
      --id NAME       init: this KP's localSystemID
      --peer NAME=HOST  init: a peer KP and its address (repeat for each)
      --keystore FILE init: keystore_path (default DIR/keystore.db)
      --file FILE     psk add: the PSK file
      --identity ID   psk add: the encryptor's PSK identity
      --bytes N       psk add: key length, 16 to 256 bytes (default 48)
      --dir DIR       lab: the lab folder (default ./lab)
      --base-port N   lab: alice listens on N (encryptors) and N+1 (peers), bob on N+1000, N+1001
                      (default 10443)
  -h, --help          this text
  -v, --version       print the version

Environment:
  KEYSTORE_MASTER_KEY_FILE  file holding the keystore master key: 64 hex digits, or a passphrase
                            (16+ characters); systemd LoadCredential=, a 0600 file on IOx
  KEYSTORE_MASTER_KEY       or the key itself (stays visible in /proc/PID/environ; prefer the file)
  SKIP_KEM_BACKEND          ML-KEM implementation: auto (default: native when Node has it), native, noble

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
        pub: { type: 'string' },
        priv: { type: 'string' },
        force: { type: 'boolean' },
        dir: { type: 'string' },
        file: { type: 'string' },
        id: { type: 'string' },
        peer: { type: 'string', multiple: true },
        keystore: { type: 'string' },
        identity: { type: 'string' },
        bytes: { type: 'string' },
        'base-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    io.err(`skip-server: ${errorMessage(e)}\nRun "skip-server --help" for usage.\n`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help || (positionals[0] === 'help' && positionals.length === 1)) return (io.out(HELP), EXIT.ok);
  if (values.version || (positionals[0] === 'version' && positionals.length === 1))
    return (io.out(`${VERSION}\n`), EXIT.ok);
  const two = `${positionals[0] ?? ''} ${positionals[1] ?? ''}`;
  const command = two === 'keystore stats' || two === 'psk add' ? two : (positionals[0] ?? 'serve');
  if (command.includes(' ')) positionals.splice(0, 2, command);
  const usage = (msg: string): number => (
    io.err(`skip-server: ${msg}\nRun "skip-server --help" for usage.\n`),
    EXIT.usage
  );
  if (positionals.length > 1) return usage(`unexpected argument "${positionals[1]}"`);
  /** A ConfigError from a one-shot command: its message, exit 3; anything else propagates. */
  const failed = (e: unknown): number => {
    if (!(e instanceof ConfigError)) throw e;
    io.err(`skip-server: ${e.message}\n`);
    return EXIT.config;
  };
  const commands = [
    'serve',
    'check-config',
    'keygen',
    'lab',
    'master-key',
    'keystore stats',
    'psk add',
    'init',
  ];
  if (command === 'keystore' || command === 'psk')
    return usage(`"${command}" needs a subcommand: ${command === 'keystore' ? 'keystore stats' : 'psk add'}`);
  if (!commands.includes(command)) return usage(`unknown command "${command}"`);
  if (command === 'master-key') return (io.out(`${newMasterKeyHex()}\n`), EXIT.ok);
  if (command === 'init') {
    if (values.dir === undefined || values.id === undefined)
      return usage('init needs --dir DIR and --id NAME');
    try {
      io.out(
        initKp({
          dir: values.dir,
          id: values.id,
          peers: values.peer ?? [],
          kem: selectBackend('auto'),
          ...(values.keystore !== undefined && { keystore: values.keystore }),
        }),
      );
      return EXIT.ok;
    } catch (e) {
      return failed(e);
    }
  }
  if (command === 'psk add') {
    if (values.file === undefined || values.identity === undefined)
      return usage('psk add needs --file FILE and --identity ID');
    const bytes =
      values.bytes === undefined ? 48 : /^[0-9]{1,3}$/.test(values.bytes) ? Number(values.bytes) : NaN;
    if (!(bytes >= MIN_PSK_BYTES && bytes <= MAX_PSK_BYTES))
      return usage(`--bytes must be a number from ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES}`);
    try {
      const hex = addPsk(values.file, values.identity, bytes);
      const mode = (statSync(values.file).mode & 0o777).toString(8).padStart(4, '0');
      io.out(
        `added "${values.identity}" to ${values.file} (mode ${mode}); SIGHUP a running skip-server to load it\n`,
      );
      io.out(`router: psk id ${values.identity} key hex ${hex}\n`);
      return EXIT.ok;
    } catch (e) {
      return failed(e);
    }
  }
  let kem: KemBackend;
  try {
    kem = kemFromEnv(process.env.SKIP_KEM_BACKEND);
  } catch (e) {
    return usage(errorMessage(e));
  }
  if (command === 'keygen') {
    if (values.pub === undefined || values.priv === undefined)
      return usage('keygen needs --pub FILE and --priv FILE');
    if (values.pub === values.priv) return usage('--pub and --priv must be different files');
    try {
      generateKeyFiles(values.pub, values.priv, kem, values.force ?? false);
    } catch (e) {
      return failed(e);
    }
    io.out(`wrote ML-KEM-1024 public key ${values.pub} and private key ${values.priv} (mode 0600)\n`);
    return EXIT.ok;
  }
  if (command === 'lab') {
    const base = Number(values['base-port'] ?? 10443);
    if (!Number.isInteger(base) || base < 1024 || base > 64000)
      return usage('--base-port must be a number from 1024 to 64000');
    try {
      return await runLab({ dir: values.dir ?? 'lab', basePort: base, kem, out: io.out });
    } catch (e) {
      return failed(e);
    }
  }
  // Inside Cisco IOx the app's data volume holds the config.
  const caf = process.env.CAF_APP_PERSISTENT_DIR;
  const configFile = values.config ?? (caf ? join(caf, 'config', 'skip.yaml') : undefined);
  if (configFile === undefined) return usage(`${command} needs --config FILE`);
  let port: number | undefined;
  if (values.port !== undefined) {
    port = /^[0-9]{1,5}$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port >= 0 && port <= 65535))
      return usage(`--port must be a number from 0 to 65535, not "${values.port}"`);
  }

  try {
    const config = loadConfig(configFile);
    if (values.host !== undefined) config.host = values.host;
    if (port !== undefined) config.port = port;
    if (command === 'check-config') return await checkConfig(config, kem, io.out);
    if (command === 'keystore stats') return await keystoreStats(config, io.out);
    const log = createLogger();
    warnAboutSecrets(config, log);
    const masterKey = masterKeyFromEnv();
    const server = await startServer(config, { log, kem, masterKey });
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

/** Start-up warnings about where secrets are exposed (docs/security.md, findings 5 and 12). */
function warnAboutSecrets(config: Config, log: Logger): void {
  if (process.env.KEYSTORE_MASTER_KEY !== undefined) {
    log.warn('master key read from the environment', {
      note:
        'KEYSTORE_MASTER_KEY stays readable in /proc/PID/environ by this user and root for the life ' +
        'of the process; prefer KEYSTORE_MASTER_KEY_FILE (systemd LoadCredential, or a 0600 file)',
    });
  }
  for (const f of exposedSecretFiles(config, process.env.KEYSTORE_MASTER_KEY_FILE))
    log.warn('secret file readable by others', { ...f, fix: `chmod o-rwx ${f.file}` });
}

function kemFromEnv(value: string | undefined): KemBackend {
  if (value === undefined || value === '' || value === 'auto') return selectBackend('auto');
  if (value === 'native' || value === 'noble') return selectBackend(value);
  throw new Error(`SKIP_KEM_BACKEND must be auto, native or noble, not "${value}"`);
}

async function keystoreStats(config: Config, out: Out): Promise<number> {
  const master = masterKeyFromEnv();
  const { store, report } = await FileKeyStore.open({
    path: config.keystore_path,
    master,
    ttlMs: config.key_ttl_seconds * 1000,
    readOnly: true,
  });
  try {
    const st = store.stats((await stat(config.keystore_path)).size);
    const age = st.oldestAgeMs === null ? '-' : `${Math.round(st.oldestAgeMs / 1000)} s`;
    out(`${config.keystore_path}\n`);
    out(`  slots           ${st.slots} (${st.used} used, ${st.free} free)\n`);
    out(`  oldest key      ${age}\n`);
    out(`  file size       ${st.fileBytes} bytes\n`);
    if (report.corrupt.length > 0)
      out(`  corrupt slots   ${report.corrupt.join(', ')} (wiped at next start)\n`);
    if (report.expiredWiped > 0) out(`  expired         ${report.expiredWiped} (wiped at next start)\n`);
    if (report.replayed.length > 0)
      out(`  replayed slots  ${report.replayed.join(', ')} (keys already delivered; wiped at next start)\n`);
    out(
      `  delivered keyIds remembered ${report.spent}${report.spentCorrupt > 0 ? ` (${report.spentCorrupt} damaged entries)` : ''}\n`,
    );
    return EXIT.ok;
  } finally {
    await store.close();
    wipeMasterKey(master);
  }
}

async function checkConfig(config: Config, kem: KemBackend, out: Out): Promise<number> {
  // Every check first (the master key against the keystore included); "OK" only after all.
  const tls = loadTlsMaterial(config);
  loadPrivateKey(config.kem_priv_key_path, kem, config.kem_pub_key_path).wipe();
  for (const r of config.remoteSystems)
    if (!r.pubkey_path.includes('{id}')) readPublicKeyFile(r.pubkey_path, `public key of "${r.id}"`);
  const psk = config.use_psk ? readPskFile(config.psk_file!) : undefined;
  const identities = psk?.size;
  for (const k of psk?.values() ?? []) k.fill(0);
  let keystore: string;
  const master = masterKeyFromEnv();
  try {
    const { store } = await FileKeyStore.open({
      path: config.keystore_path,
      master,
      ttlMs: 1000,
      readOnly: true,
    });
    await store.close();
    keystore = 'master key OK';
  } catch (e) {
    if (!(e instanceof ConfigError && /no keystore there/.test(e.message))) throw e;
    keystore = 'will be created at first start';
  } finally {
    wipeMasterKey(master);
  }
  const warnings = [
    ...tls.warnings,
    ...exposedSecretFiles(config, process.env.KEYSTORE_MASTER_KEY_FILE).map(
      (f) => `${f.file}: ${f.what} is mode ${f.mode}, readable or writable by others (chmod o-rwx)`,
    ),
  ];
  out(`${config.source}: OK${warnings.length > 0 ? `, with ${warnings.length} warning(s)` : ''}\n`);
  out(`  localSystemID   ${config.localSystemID}\n`);
  out(`  remoteSystems   ${config.remoteSystems.map((r) => r.id).join(', ')}\n`);
  out(
    `  encryptors      ${config.host}:${config.port} ${psk ? `TLS-PSK, ${identities} identities` : 'certificates'}\n`,
  );
  out(`  certificate     CN=${tls.subject}, valid until ${tls.notAfter}\n`);
  out(`  ML-KEM-1024     key pair OK (${kem.name} backend); peer public keys OK\n`);
  out(`  keystore        ${config.keystore_path}: ${keystore}\n`);
  for (const w of warnings) out(`  warning         ${w}\n`);
  return EXIT.ok;
}
