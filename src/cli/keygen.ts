// `skip-server keygen` and `skip-server master-key`: new secrets, written or printed.

import { existsSync, statSync } from 'node:fs';
import { generateKeyFiles } from '../kem/keygen.js';
import { newMasterKeyHex } from '../keystore/master-key.js';
import { EXIT, UsageError, kemFromEnv, str, type Command } from './common.js';

export const keygen: Command = {
  name: 'keygen',
  summary: 'Write a new ML-KEM-1024 key pair (private key 0600).',
  synopsis: '--pub FILE --priv FILE [--form both|seed] [--force]',
  about: `Write a new ML-KEM-1024 key pair (PEM, as OpenSSL 3.5's genpkey writes it: the private key
holds the 64-byte seed and the 3,168-byte expanded key, the form the reference Key Provider
reads; mode 0600). --form seed writes the seed alone (smaller; skip-server and OpenSSL 3.5+
read it, the reference Key Provider does not). Refuses to replace existing files unless
--force. SKIP_KEM_BACKEND (auto, native, noble) picks the implementation.
With --force, replaced files keep their owner, group and mode (a private key loses access for
others), so the service can still read them; the output says what to copy where, in which order.`,
  options: {
    pub: { type: 'string', arg: 'FILE', help: 'where to write the public key (give it to the peer KPs)' },
    priv: { type: 'string', arg: 'FILE', help: 'where to write the private key (keep it on this KP only)' },
    form: {
      type: 'string',
      arg: 'F',
      help: 'private key form: both (seed and expanded key, the default) or seed',
    },
    force: { type: 'boolean', help: 'replace existing files' },
  },
  run(values, io) {
    const pub = str(values.pub);
    const priv = str(values.priv);
    if (pub === undefined || priv === undefined)
      throw new UsageError('keygen needs --pub FILE and --priv FILE');
    if (pub === priv) throw new UsageError('--pub and --priv must be different files');
    const form = str(values.form) ?? 'both';
    if (form !== 'both' && form !== 'seed')
      throw new UsageError(`--form must be both or seed, not "${form}"`);
    const replaced = existsSync(pub) || existsSync(priv);
    generateKeyFiles(pub, priv, kemFromEnv(), values.force === true, form);
    io.out(
      `${replaced ? 'replaced' : 'wrote'} ML-KEM-1024 public key ${pub} (${described(pub)}) and ` +
        `private key ${priv} (${described(priv)}, ${form === 'both' ? 'seed and expanded key' : 'seed only'})\n`,
    );
    io.out(replaced ? rotationSteps(pub) : `give ${pub} to each peer KP: ${PUBKEY_PATH}\n`);
    return EXIT.ok;
  },
};

const PUBKEY_PATH = 'it is the file its remoteSystems entry for this KP names as pubkey_path';

function described(path: string): string {
  const st = statSync(path);
  return `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, owner ${st.uid}:${st.gid}`;
}

/** A pair replaced under a running KP: the order that keeps every exchange working. */
function rotationSteps(pub: string): string {
  return `next, in this order (no exchange fails in between):
  1. reload this KP (systemctl reload skip-server, or SIGHUP): it decapsulates with the new key
     and, for kem_key_grace_seconds (default 3600), still with the previous one
  2. copy ${pub} to every peer KP (${PUBKEY_PATH}) and reload each one within that time
`;
}

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
