// TLS-PSK table for encryptors (docs/architecture.md, Decisions).
// File format, as the reference's create_psk.sh writes it: one `identity:hexkey` per line, `#`
// comments, blank lines ignored. Node's pskCallback is synchronous, so the table lives in memory
// and is swapped whole on reload; replaced key buffers are wiped.

import { readFileSync } from 'node:fs';
import { wipe } from '../bytes.js';
import { ConfigError, errorCode, errorMessage } from '../errors.js';

/** Node's limits on PSK identity and key (tls.createServer pskCallback). */
export const MAX_IDENTITY_BYTES = 128;
export const MAX_PSK_BYTES = 256;
/** Below 128 bits a PSK is guessable offline from one captured handshake. */
export const MIN_PSK_BYTES = 16;

const HEX_VALUE = (c: number): number =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x61 && c <= 0x66
      ? c - 0x57
      : c >= 0x41 && c <= 0x46
        ? c - 0x37
        : -1;
const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d;

/** Hex digits in bytes [from, to) decoded straight into a Buffer (the key never becomes a string). */
function hexBytes(data: Uint8Array, from: number, to: number): Buffer | undefined {
  if ((to - from) % 2 !== 0 || to === from) return undefined;
  const out = Buffer.alloc((to - from) / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX_VALUE(data[from + 2 * i]!);
    const lo = HEX_VALUE(data[from + 2 * i + 1]!);
    if (hi < 0 || lo < 0) return void out.fill(0);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/**
 * Parses a PSK file's bytes; errors name the file and line and never quote the key. Identities
 * are decoded as UTF-8 (they are not secret); keys go from hex bytes to a Buffer directly.
 */
export function parsePskFile(input: Uint8Array | string, file: string): Map<string, Buffer> {
  const data = typeof input === 'string' ? Buffer.from(input) : input;
  const table = new Map<string, Buffer>();
  const problems: string[] = [];
  let lineNo = 0;
  for (let start = 0; start <= data.length;) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    lineNo++;
    let s = start;
    let e = end;
    start = end + 1;
    while (s < e && isSpace(data[s]!)) s++;
    while (e > s && isSpace(data[e - 1]!)) e--;
    if (s === e || data[s] === 0x23) continue;
    const where = `${file}:${lineNo}`;
    const colon = data.lastIndexOf(0x3a, e - 1);
    if (colon < s) {
      problems.push(`${where}: expected "identity:hexkey"`);
      continue;
    }
    let idEnd = colon;
    while (idEnd > s && isSpace(data[idEnd - 1]!)) idEnd--;
    let keyStart = colon + 1;
    while (keyStart < e && isSpace(data[keyStart]!)) keyStart++;
    const identity = Buffer.from(data.subarray(s, idEnd)).toString('utf8');
    if (idEnd === s || idEnd - s > MAX_IDENTITY_BYTES) {
      problems.push(`${where}: identity must be 1 to ${MAX_IDENTITY_BYTES} bytes`);
      continue;
    }
    const key = hexBytes(data, keyStart, e);
    if (!key) {
      problems.push(`${where}: key for "${identity}" is not an even number of hex digits`);
      continue;
    }
    if (key.length < MIN_PSK_BYTES || key.length > MAX_PSK_BYTES) {
      problems.push(
        `${where}: key for "${identity}" is ${key.length} bytes; it must be ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES}`,
      );
      wipe(key);
      continue;
    }
    if (table.has(identity)) {
      problems.push(`${where}: identity "${identity}" appears twice`);
      wipe(key);
      continue;
    }
    table.set(identity, key);
  }
  if (problems.length === 0 && table.size === 0) problems.push(`${file}: no "identity:hexkey" lines`);
  if (problems.length > 0) {
    for (const k of table.values()) wipe(k);
    throw new ConfigError(problems);
  }
  return table;
}

export function readPskFile(file: string): Map<string, Buffer> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    throw new ConfigError([`${file}: cannot read PSK file (${errorCode(e) ?? errorMessage(e)})`]);
  }
  try {
    return parsePskFile(data, file);
  } finally {
    data.fill(0);
  }
}

/** The live table behind pskCallback. */
export class PskTable {
  private table: Map<string, Buffer>;

  constructor(private readonly file: string) {
    this.table = readPskFile(file);
  }

  get size(): number {
    return this.table.size;
  }

  /** For pskCallback: the key, or null to refuse the handshake. OpenSSL copies it at once. */
  lookup(identity: string): Buffer | null {
    return this.table.get(identity) ?? null;
  }

  /** Re-reads the file; on any problem keeps the current table and throws. */
  reload(): number {
    const next = readPskFile(this.file);
    const old = this.table;
    this.table = next;
    for (const k of old.values()) wipe(k);
    return next.size;
  }

  close(): void {
    for (const k of this.table.values()) wipe(k);
    this.table = new Map();
  }
}
