// Writing key files, possibly over ones a running service reads. Every file is first written to
// a synced temporary file beside it with the mode, owner and group of the file it replaces (a
// private key loses any access for others), and only when all are ready are they renamed into
// place: a failure leaves the old files whole, and a success leaves files the service can read.

import {
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { ConfigError, errorCode, errorMessage } from '../errors.js';

export interface NewFile {
  path: string;
  data: Uint8Array;
  /** The mode of a new file. */
  mode: number;
  /** A secret: a replaced file keeps its group bits but loses access for others. */
  secret?: boolean;
}

interface Prepared {
  path: string;
  tmp: string;
}

function existing(path: string): { mode: number; uid: number; gid: number } | undefined {
  try {
    const st = statSync(path);
    return { mode: st.mode & 0o777, uid: st.uid, gid: st.gid };
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw new ConfigError([`${path}: cannot check (${errorCode(e) ?? errorMessage(e)})`]);
  }
}

function prepare(f: NewFile): Prepared {
  const old = existing(f.path);
  const mode = old ? (f.secret ? old.mode & 0o770 : old.mode) : f.mode;
  const tmp = `${f.path}.tmp-${process.pid}`;
  let fd: number | undefined;
  let step = 'cannot write';
  try {
    fd = openSync(tmp, 'wx', 0o600);
    writeSync(fd, f.data);
    fsyncSync(fd);
    const st = fstatSync(fd);
    if (old && (st.uid !== old.uid || st.gid !== old.gid)) {
      step = `cannot keep its owner and group ${old.uid}:${old.gid} (run this as root or as that user)`;
      fchownSync(fd, old.uid, old.gid);
    }
    step = 'cannot write';
    fchmodSync(fd, mode);
    closeSync(fd);
    return { path: f.path, tmp };
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw new ConfigError([`${f.path}: ${step} (${errorCode(e) ?? errorMessage(e)})`]);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // renamed already, or never made
  }
}

/** Writes every file, or none of them if any cannot be prepared. */
export function replaceFiles(files: readonly NewFile[]): void {
  const ready: Prepared[] = [];
  try {
    for (const f of files) ready.push(prepare(f));
  } catch (e) {
    for (const p of ready) removeQuietly(p.tmp);
    throw e;
  }
  for (const p of ready) {
    try {
      renameSync(p.tmp, p.path);
    } catch (e) {
      for (const q of ready) removeQuietly(q.tmp);
      throw new ConfigError([`${p.path}: cannot write (${errorCode(e) ?? errorMessage(e)})`]);
    }
  }
}
