// Files that hold secrets (PSKs, the ML-KEM private key, the TLS key, the master key, the
// keystore) should be readable by the KP's user (and, in the systemd layout, its group) only.
// A file others can read or write is reported at start, by name and mode, never refused: an
// operator may have a reason, but must not be surprised (docs/security.md).

import { statSync } from 'node:fs';
import type { Config } from './config.js';

export interface ExposedFile {
  file: string;
  what: string;
  mode: string;
}

/** The secret files of `config` (and the master key file, if any) that others can read or write. */
export function exposedSecretFiles(config: Config, masterKeyFile?: string): ExposedFile[] {
  const files: [string | undefined, string][] = [
    [config.psk_file, 'psk_file'],
    [config.kem_priv_key_path, 'kem_priv_key_path'],
    [config.keyfile, 'keyfile'],
    [config.keystore_path, 'keystore_path'],
    [masterKeyFile, 'KEYSTORE_MASTER_KEY_FILE'],
  ];
  const out: ExposedFile[] = [];
  for (const [file, what] of files) {
    if (file === undefined) continue;
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if (mode & 0o006) out.push({ file, what, mode: mode.toString(8).padStart(4, '0') });
  }
  return out;
}
