// `skip-server keygen`: a new ML-KEM-1024 pair as `openssl genpkey` (3.5+) and Node 26 write it
// (private key in the seed-only form, mode 0600: every runtime and OpenSSL 3.5+ load it). Files are written whole and synced; existing files are refused unless
// forced, so a slip of the keyboard cannot destroy a deployed private key.

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
import type { KemBackend } from './mlkem.js';
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

/** Writes a new pair; returns the public key. Both paths are checked before either is written. */
export function generateKeyFiles(pubPath: string, privPath: string, kem: KemBackend, force: boolean): Buffer {
  if (!force) [privPath, pubPath].forEach(refuseExisting);
  const seed = randomBytes(64);
  const pem = encodePrivatePem({ seed }, 'seed');
  try {
    const ek = kem.publicFromSeed(seed);
    // A replaced pair keeps the owner, group and mode of the files the service reads.
    replaceFiles([
      { path: privPath, data: pem, mode: 0o600, secret: true },
      { path: pubPath, data: encodePublicPem(ek), mode: 0o644 },
    ]);
    return ek;
  } finally {
    seed.fill(0);
    pem.fill(0);
  }
}
