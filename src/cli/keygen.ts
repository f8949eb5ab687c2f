// `skip-server keygen` and `skip-server master-key`: new secrets, written or printed.

import { generateKeyFiles } from '../kem/keygen.js';
import { newMasterKeyHex } from '../keystore/master-key.js';
import { EXIT, UsageError, kemFromEnv, str, type Command } from './common.js';

export const keygen: Command = {
  name: 'keygen',
  summary: 'Write a new ML-KEM-1024 key pair (private key 0600).',
  synopsis: '--pub FILE --priv FILE [--force]',
  about: `Write a new ML-KEM-1024 key pair (PEM, as OpenSSL 3.5 writes it; the private key holds
only the 64-byte seed, mode 0600). Refuses to replace existing files unless --force.
SKIP_KEM_BACKEND (auto, native, noble) picks the implementation.`,
  options: {
    pub: { type: 'string', arg: 'FILE', help: 'where to write the public key (give it to the peer KPs)' },
    priv: { type: 'string', arg: 'FILE', help: 'where to write the private key (keep it on this KP only)' },
    force: { type: 'boolean', help: 'replace existing files' },
  },
  run(values, io) {
    const pub = str(values.pub);
    const priv = str(values.priv);
    if (pub === undefined || priv === undefined)
      throw new UsageError('keygen needs --pub FILE and --priv FILE');
    if (pub === priv) throw new UsageError('--pub and --priv must be different files');
    generateKeyFiles(pub, priv, kemFromEnv(), values.force === true);
    io.out(`wrote ML-KEM-1024 public key ${pub} and private key ${priv} (mode 0600)\n`);
    return EXIT.ok;
  },
};

export const masterKey: Command = {
  name: 'master-key',
  summary: 'Print a new keystore master key (64 hex digits).',
  synopsis: '',
  about: `Print a new keystore master key (64 hex digits). Save it in a 0600 file named by
KEYSTORE_MASTER_KEY_FILE (systemd: LoadCredential=); losing it loses the waiting keys.`,
  options: {},
  run(_values, io) {
    io.out(`${newMasterKeyHex()}\n`);
    return EXIT.ok;
  },
};
