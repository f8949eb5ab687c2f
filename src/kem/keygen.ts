// `skip-server keygen`: a new ML-KEM-1024 pair in the PEM forms `openssl genpkey` (3.5+) writes by
// default: the private key holds the seed and the expanded key together ("both", OpenSSL's
// "seed-priv"), which every runtime, OpenSSL 3.5+ and the reference Key Provider (it reads the
// expanded key) load; the seed-only form on request. The expanded key is derived from the seed
// here, so every runtime writes the same bytes. Mode 0600; files are written whole and synced;
// existing files are refused unless forced, so a slip of the keyboard cannot destroy a deployed
// private key.

import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import { ekOf, noble, type KemBackend } from './mlkem.js';
import { encodePrivatePem, encodePublicPem } from './pem.js';
import { replaceFiles } from './replace-files.js';

/** Writes `data` to `path` through a synced temporary file and a rename: never a half-written file. */
export function writeFileAtomic(path: string, data: Uint8Array, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // renamed already, or never made
    }
    throw new ConfigError([`${path}: cannot write (${errorCode(e) ?? errorMessage(e)})`]);
  }
}

function refuseExisting(path: string): void {
  try {
    lstatSync(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return;
    throw new ConfigError([`${path}: cannot check (${errorCode(e) ?? errorMessage(e)})`]);
  }
  throw new ConfigError([`${path}: exists; use --force to replace it`]);
}

/** The private key forms `keygen` writes: OpenSSL 3.5's default, or the seed alone. */
export type WrittenForm = 'both' | 'seed';

/** Writes a new pair; returns the public key. Both paths are checked before either is written. */
export function generateKeyFiles(
  pubPath: string,
  privPath: string,
  kem: KemBackend,
  force: boolean,
  form: WrittenForm = 'both',
): Buffer {
  if (!force) [privPath, pubPath].forEach(refuseExisting);
  const seed = randomBytes(64);
  const { dk } = noble.keygen(seed);
  let pem: Buffer | undefined;
  try {
    const ek = Buffer.from(ekOf(dk));
    // The runtime's own ML-KEM must derive the same pair from the seed.
    if (!kem.publicFromSeed(seed).equals(ek))
      throw new Error(`${kem.name} ML-KEM and @noble/post-quantum derive different keys from one seed`);
    pem = encodePrivatePem({ seed, expanded: dk }, form);
    // A replaced pair keeps the owner, group and mode of the files the service reads.
    replaceFiles([
      { path: privPath, data: pem, mode: 0o600, secret: true },
      { path: pubPath, data: encodePublicPem(ek), mode: 0o644 },
    ]);
    return ek;
  } finally {
    seed.fill(0);
    dk.fill(0);
    pem?.fill(0);
  }
}
