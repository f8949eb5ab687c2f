// `skip-server psk add`: a new encryptor identity in the PSK file without OpenSSL. Appends
// (creating the file with mode 0600; an existing file keeps its owner, group and group bits and
// loses any access for others), refuses an identity already there or a file that does not
// parse, and returns the key as hex once, for the router's `psk id ... key hex ...` line.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { ConfigError, errorCode, errorMessage } from '../errors.js';
import { MAX_IDENTITY_BYTES, MAX_PSK_BYTES, MIN_PSK_BYTES, parsePskFile } from './psk.js';

export function addPsk(file: string, identity: string, bytes: number): string {
  if (
    !/^[\x21-\x7e]+$/.test(identity) ||
    Buffer.byteLength(identity) > MAX_IDENTITY_BYTES ||
    identity.endsWith(':')
  ) {
    throw new ConfigError([
      `identity must be 1 to ${MAX_IDENTITY_BYTES} printable characters without spaces, not ending in ':'`,
    ]);
  }
  if (!Number.isInteger(bytes) || bytes < MIN_PSK_BYTES || bytes > MAX_PSK_BYTES) {
    throw new ConfigError([`--bytes must be ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES}`]);
  }
  let existing = Buffer.alloc(0);
  let fresh = false;
  try {
    existing = readFileSync(file);
  } catch (e) {
    if (errorCode(e) !== 'ENOENT')
      throw new ConfigError([`${file}: cannot read (${errorCode(e) ?? errorMessage(e)})`]);
    fresh = true;
  }
  try {
    const table = parsePskFile(existing, file);
    const taken = table.has(identity);
    for (const k of table.values()) k.fill(0);
    if (taken) throw new ConfigError([`${file}: identity "${identity}" is already there`]);
  } catch (e) {
    // A file with no entries yet (absent, empty or comments only) is fine to append to.
    const empty =
      e instanceof ConfigError &&
      e.problems.length === 1 &&
      e.problems[0]!.endsWith('no "identity:hexkey" lines');
    if (!empty) throw e;
  }
  const newline = existing.length === 0 || existing[existing.length - 1] === 0x0a ? '' : '\n';
  existing.fill(0);
  const key = randomBytes(bytes);
  const line = Buffer.from(`${newline}${identity}:${key.toString('hex')}\n`);
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    // A new file is 0600. An existing one keeps its owner, group and group bits (the systemd
    // layout makes it readable by the service's group); only access for others is removed.
    const mode = fstatSync(fd).mode & 0o777;
    const wanted = fresh ? 0o600 : mode & 0o770;
    if (mode !== wanted) fchmodSync(fd, wanted);
    writeSync(fd, line);
    fsyncSync(fd);
    return key.toString('hex');
  } catch (e) {
    throw new ConfigError([`${file}: cannot write (${errorCode(e) ?? errorMessage(e)})`]);
  } finally {
    if (fd !== undefined) closeSync(fd);
    key.fill(0);
    line.fill(0);
  }
}
