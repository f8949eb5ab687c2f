// TLS-PSK table for encryptors (architecture.md, "TLS on the encryptor link").
// File format, as the reference's create_psk.sh writes it: one `identity:hexkey` per line, `#`
// comments, blank lines ignored. Node's pskCallback is synchronous, so the table lives in memory
// and is swapped whole on reload; replaced key buffers are wiped.

import { readFileSync } from 'node:fs';
import { isHex, wipe } from '../bytes.js';
import { ConfigError, errorCode, errorMessage } from '../errors.js';

/** Node's limits on PSK identity and key (tls.createServer pskCallback). */
export const MAX_IDENTITY_BYTES = 128;
export const MAX_PSK_BYTES = 256;
/** Below 128 bits a PSK is guessable offline from one captured handshake. */
export const MIN_PSK_BYTES = 16;

/** Parses PSK file text; errors name the file and line and never quote the key. */
export function parsePskFile(text: string, file: string): Map<string, Buffer> {
  const table = new Map<string, Buffer>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${i + 1}`;
    const colon = line.lastIndexOf(':');
    if (colon < 0) return void problems.push(`${where}: expected "identity:hexkey"`);
    const identity = line.slice(0, colon).trim();
    const hex = line.slice(colon + 1).trim();
    const idBytes = Buffer.byteLength(identity);
    if (idBytes === 0 || idBytes > MAX_IDENTITY_BYTES) {
      return void problems.push(`${where}: identity must be 1 to ${MAX_IDENTITY_BYTES} bytes`);
    }
    if (!isHex(hex) || hex.length === 0) {
      return void problems.push(`${where}: key for "${identity}" is not an even number of hex digits`);
    }
    const bytes = hex.length / 2;
    if (bytes < MIN_PSK_BYTES || bytes > MAX_PSK_BYTES) {
      return void problems.push(
        `${where}: key for "${identity}" is ${bytes} bytes; it must be ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES}`,
      );
    }
    if (table.has(identity)) return void problems.push(`${where}: identity "${identity}" appears twice`);
    table.set(identity, Buffer.from(hex, 'hex'));
  });
  if (problems.length === 0 && table.size === 0) problems.push(`${file}: no "identity:hexkey" lines`);
  if (problems.length > 0) {
    for (const k of table.values()) wipe(k);
    throw new ConfigError(problems);
  }
  return table;
}

export function readPskFile(file: string): Map<string, Buffer> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read PSK file (${errorCode(e) ?? errorMessage(e)})`]);
  }
  return parsePskFile(text, file);
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
