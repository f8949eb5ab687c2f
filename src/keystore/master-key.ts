// The keystore master key, from KEYSTORE_MASTER_KEY or the file named by KEYSTORE_MASTER_KEY_FILE
// (systemd credentials, the IOx data volume). 64 hex digits are used as the key itself; anything
// else is a passphrase, stretched with scrypt and the salt in the keystore header. The value never
// reaches a log or an error message. The variable is removed from process.env once read, but that
// does not clear the process's initial environment block: /proc/PID/environ keeps showing it to
// the same user and root, so `serve` warns and the docs prefer KEYSTORE_MASTER_KEY_FILE.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorCode, errorMessage } from '../errors.js';

/** `source` says where the key came from (a file or the variable), for the errors that name it. */
export type MasterKey = ({ kind: 'raw'; key: Buffer } | { kind: 'passphrase'; passphrase: Buffer }) & {
  source?: string;
};

/** Shortest passphrase accepted; a 64-hex-digit key is the better choice. */
export const MIN_PASSPHRASE_BYTES = 16;

const HOW =
  'Set KEYSTORE_MASTER_KEY_FILE to a 0600 file holding 64 hex digits (`umask 077; skip-server master-key > FILE` ' +
  `writes one; systemd: LoadCredential=) or a passphrase of at least ${MIN_PASSPHRASE_BYTES} characters. ` +
  'KEYSTORE_MASTER_KEY takes the same value, but stays readable in /proc/PID/environ.';

export function newMasterKeyHex(): string {
  const k = randomBytes(32);
  try {
    return k.toString('hex');
  } finally {
    k.fill(0);
  }
}

function parse(raw: Buffer, where: string): MasterKey {
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d || raw[end - 1] === 0x20)) end--;
  const value = raw.subarray(0, end);
  if (value.length === 64 && /^[0-9a-fA-F]{64}$/.test(value.toString('latin1'))) {
    const key = Buffer.from(value.toString('latin1'), 'hex');
    raw.fill(0);
    return { kind: 'raw', key, source: where };
  }
  if (value.length < MIN_PASSPHRASE_BYTES) {
    raw.fill(0);
    throw new ConfigError([`${where} is too short for a master key (${value.length} characters). ${HOW}`]);
  }
  const passphrase = Buffer.from(value);
  raw.fill(0);
  return { kind: 'passphrase', passphrase, source: where };
}

export function masterKeyFromEnv(env: NodeJS.ProcessEnv = process.env): MasterKey {
  const direct = env.KEYSTORE_MASTER_KEY;
  const file = env.KEYSTORE_MASTER_KEY_FILE;
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(['both KEYSTORE_MASTER_KEY and KEYSTORE_MASTER_KEY_FILE are set; set only one']);
  }
  if (direct !== undefined) {
    delete env.KEYSTORE_MASTER_KEY;
    return parse(Buffer.from(direct, 'utf8'), 'KEYSTORE_MASTER_KEY');
  }
  if (file !== undefined) {
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch (e) {
      throw new ConfigError([
        `${file}: cannot read KEYSTORE_MASTER_KEY_FILE (${errorCode(e) ?? errorMessage(e)})`,
      ]);
    }
    return parse(raw, `${file} (KEYSTORE_MASTER_KEY_FILE)`);
  }
  throw new ConfigError([`no keystore master key. ${HOW}`]);
}

export function wipeMasterKey(m: MasterKey): void {
  if (m.kind === 'raw') m.key.fill(0);
  else m.passphrase.fill(0);
}
