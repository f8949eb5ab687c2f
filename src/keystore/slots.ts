// The keystore file format (docs/architecture.md, Keystore):
//   header, 4096 bytes: magic "SKIPKSv1", u16 version, u16 slot size, u8 kdf (0 raw, 1 scrypt),
//     u8 log2 N, u8 r, u8 p, 16-byte salt, 16-byte random file id, then a 12-byte nonce and
//     16-byte AES-256-GCM tag over nothing, with bytes 0..47 as AAD: it proves the master key
//     and the header before any slot is touched. The rest is zero.
//   slots, 512 bytes each (one disk sector: a torn write cannot split one), at 4096 + 512 * i:
//     all zeros = free; else nonce (12) || AES-256-GCM(record, 484 bytes) || tag (16),
//     AAD = file id || u32 slot index, so a slot cannot be moved or replayed into another file.
//     A slot copied back into its own place after its key was taken still authenticates: the
//     spent log beside the file (spent.ts) is what refuses it.
//   record: u8 format 1, u8 keyId length + 64 bytes keyId (binary), u8 key length + 32 bytes key,
//     u8 remote length + 255 bytes remote system ID (UTF-8), u64 created ms, u64 expires ms, zeros.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { KeyId } from '../ids/key-id.js';
import type { SystemId } from '../ids/system-id.js';
import type { MasterKey } from './master-key.js';

export const HEADER_BYTES = 4096;
export const SLOT_BYTES = 512;
const NONCE = 12;
const TAG = 16;
const PLAIN = SLOT_BYTES - NONCE - TAG;
const MAGIC = Buffer.from('SKIPKSv1');
/** 2: the keystore has a spent log beside it (spent.ts). 1: made before the spent log; opened
 * and upgraded to 2 (the log is created, the header re-sealed). */
const VERSION = 2;
const UPGRADABLE_VERSION = 1;
const SIGNED = 48;
/** scrypt cost for passphrases: 2^14 x 8 x 128 bytes = 16 MiB, about 50 ms here. */
const SCRYPT = { logN: 14, r: 8, p: 1 };

export interface StoreKeys {
  fileId: Buffer;
  /** AES-256 key for slots, derived from the master key and the file id. */
  slotKey: Buffer;
  /** HMAC-SHA-256 key for the spent log (spent.ts), derived the same way. */
  spentKey: Buffer;
}

export interface KeyRecord {
  keyId: KeyId;
  key: Buffer;
  remote: SystemId;
  createdMs: number;
  expiresMs: number;
}

/** The key-encryption key: the raw master key, or the passphrase through scrypt. The caller has
 * checked that the header's KDF kind matches the kind of master key. */
function kek(master: MasterKey, salt: Buffer, logN: number, r: number, p: number): Buffer {
  if (master.kind === 'raw') return Buffer.from(master.key);
  const N = 2 ** logN;
  return scryptSync(master.passphrase, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 });
}

function derive(k: Buffer, fileId: Buffer, what: string): Buffer {
  return Buffer.from(hkdfSync('sha256', k, fileId, `skip-server keystore ${what} v1`, 32));
}

/** A new header for `master`, and the keys for its slots (`version` 1 only for upgrade tests). */
export function newHeader(master: MasterKey, version = VERSION): { header: Buffer; keys: StoreKeys } {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16BE(version, 8);
  header.writeUInt16BE(SLOT_BYTES, 10);
  const kdf = master.kind === 'raw' ? 0 : 1;
  header.writeUInt8(kdf, 12);
  header.writeUInt8(SCRYPT.logN, 13);
  header.writeUInt8(SCRYPT.r, 14);
  header.writeUInt8(SCRYPT.p, 15);
  randomBytes(16).copy(header, 16);
  randomBytes(16).copy(header, 32);
  const k = kek(master, header.subarray(16, 32), SCRYPT.logN, SCRYPT.r, SCRYPT.p);
  const fileId = Buffer.from(header.subarray(32, 48));
  try {
    sealHeader(header, k, fileId);
    return { header, keys: storeKeys(k, fileId) };
  } finally {
    k.fill(0);
  }
}

/** Writes the check tag over bytes 0..47 of `header`. */
function sealHeader(header: Buffer, k: Buffer, fileId: Buffer): void {
  const check = derive(k, fileId, 'header check');
  try {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', check, nonce).setAAD(header.subarray(0, SIGNED));
    c.final();
    nonce.copy(header, SIGNED);
    c.getAuthTag().copy(header, SIGNED + NONCE);
  } finally {
    check.fill(0);
  }
}

const storeKeys = (k: Buffer, fileId: Buffer): StoreKeys => ({
  fileId,
  slotKey: derive(k, fileId, 'slots'),
  spentKey: derive(k, fileId, 'spent log'),
});

export interface OpenedHeader {
  keys: StoreKeys;
  /** For a version 1 file: the same header as version 2, to write once the spent log exists. */
  upgraded?: Buffer;
}

/**
 * The reference Key Provider's keystore: one Fernet token (version byte 0x80, then a 64-bit
 * time whose top bytes are zero), base64url, so it begins "gAAAAA" and holds only base64url.
 */
function isFernetToken(head: Buffer): boolean {
  const text = head.subarray(0, 64).toString('latin1');
  return text.startsWith('gAAAAA') && /^[A-Za-z0-9_-]+=*\s*$/.test(text);
}

/** Checks a header against `master`; the error says which of magic, version or key is wrong. */
export function openHeader(header: Buffer, master: MasterKey, file: string): OpenedHeader {
  if (isFernetToken(header)) {
    throw new ConfigError([
      `${file}: this is the reference Key Provider's keystore (a Fernet token), which skip-server cannot read; ` +
        'the keys waiting in it cannot be moved (their routers fetch new ones). Leave it to the reference and ' +
        'set keystore_path to a new file: skip-server creates it at first start',
    ]);
  }
  if (header.length < HEADER_BYTES || !header.subarray(0, 8).equals(MAGIC)) {
    const hint =
      header.subarray(0, 1).toString() === '{'
        ? " (it looks like JSON: the reference Key Provider's keystore?)"
        : '';
    throw new ConfigError([
      `${file}: not a skip-server keystore${hint}; move it away or set another keystore_path`,
    ]);
  }
  const version = header.readUInt16BE(8);
  if ((version !== VERSION && version !== UPGRADABLE_VERSION) || header.readUInt16BE(10) !== SLOT_BYTES) {
    throw new ConfigError([
      `${file}: keystore format version ${version} is not supported by this skip-server`,
    ]);
  }
  const kdf = header.readUInt8(12);
  if ((kdf === 0) !== (master.kind === 'raw')) {
    const made = kdf === 0 ? 'a 64-hex-digit master key' : 'a passphrase';
    throw new ConfigError([
      `${file}: this keystore was made with ${made}, and the master key given${master.source === undefined ? '' : ` (from ${master.source})`} is not one; nothing was changed`,
    ]);
  }
  const k = kek(
    master,
    header.subarray(16, 32),
    header.readUInt8(13),
    header.readUInt8(14),
    header.readUInt8(15),
  );
  const fileId = Buffer.from(header.subarray(32, 48));
  const check = derive(k, fileId, 'header check');
  try {
    const d = createDecipheriv('aes-256-gcm', check, header.subarray(SIGNED, SIGNED + NONCE)).setAAD(
      header.subarray(0, SIGNED),
    );
    d.setAuthTag(header.subarray(SIGNED + NONCE, SIGNED + NONCE + TAG));
    d.final();
  } catch {
    const from = master.source === undefined ? '' : ` (the key from ${master.source})`;
    throw new ConfigError([
      `${file}: wrong master key for this keystore${from}, or its header is damaged; nothing was changed. ` +
        'Give the master key this keystore was made with; if that key is lost, so are the keys waiting in ' +
        'it: move the file and its .spent log away (or set keystore_path to a new file) and skip-server ' +
        'starts a new keystore; routers fetch new keys',
    ]);
  } finally {
    check.fill(0);
  }
  try {
    if (version === VERSION) return { keys: storeKeys(k, fileId) };
    const upgraded = Buffer.from(header.subarray(0, HEADER_BYTES));
    upgraded.writeUInt16BE(VERSION, 8);
    sealHeader(upgraded, k, fileId);
    return { keys: storeKeys(k, fileId), upgraded };
  } finally {
    k.fill(0);
  }
}

function aad(keys: StoreKeys, index: number): Buffer {
  const b = Buffer.alloc(20);
  keys.fileId.copy(b, 0);
  b.writeUInt32BE(index, 16);
  return b;
}

/** Encrypts a record for slot `index`; the returned 512 bytes hold no plaintext. */
export function sealSlot(keys: StoreKeys, index: number, r: KeyRecord): Buffer {
  const plain = Buffer.alloc(PLAIN);
  try {
    const id = Buffer.from(r.keyId, 'hex');
    const remote = Buffer.from(r.remote, 'utf8');
    if (id.length > 64 || r.key.length > 32 || remote.length > 255)
      throw new Error('record field too long for a slot');
    let o = 0;
    plain[o++] = 1;
    plain[o++] = id.length;
    id.copy(plain, o);
    o += 64;
    plain[o++] = r.key.length;
    r.key.copy(plain, o);
    o += 32;
    plain[o++] = remote.length;
    remote.copy(plain, o);
    o += 255;
    plain.writeBigUInt64BE(BigInt(r.createdMs), o);
    plain.writeBigUInt64BE(BigInt(r.expiresMs), o + 8);
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', keys.slotKey, nonce).setAAD(aad(keys, index));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([nonce, body, c.getAuthTag()]);
  } finally {
    plain.fill(0);
  }
}

export type SlotContent = { kind: 'free' } | { kind: 'record'; record: KeyRecord } | { kind: 'corrupt' };

export function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/**
 * AES-256-GCM open of `nonce || ciphertext || tag` bound to `aad`: the plaintext, which the caller
 * wipes, or undefined when it does not authenticate. No other copy of the plaintext is left (the
 * buffer update() returns is the plaintext itself; unauthenticated bytes are wiped).
 */
export function gcmOpen(key: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < NONCE + TAG) return undefined;
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE)).setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const plain = d.update(sealed.subarray(NONCE, sealed.length - TAG));
  try {
    d.final(); // GCM adds no bytes at final(); it checks the tag
    return plain;
  } catch {
    plain.fill(0);
    return undefined;
  }
}

/** Decrypts slot `index`. A slot that fails authentication (torn, damaged, moved) is corrupt. */
export function openSlot(keys: StoreKeys, index: number, slot: Buffer): SlotContent {
  if (slot.length !== SLOT_BYTES) return { kind: 'corrupt' };
  if (isZero(slot)) return { kind: 'free' };
  const plain = gcmOpen(keys.slotKey, aad(keys, index), slot);
  if (!plain) return { kind: 'corrupt' };
  try {
    let o = 1;
    if (plain[0] !== 1) return { kind: 'corrupt' };
    const idLen = plain[o++]!;
    const keyId = plain.subarray(o, o + idLen).toString('hex') as KeyId;
    o += 64;
    const keyLen = plain[o++]!;
    const key = Buffer.from(plain.subarray(o, o + keyLen));
    o += 32;
    const remLen = plain[o++]!;
    const remote = plain.subarray(o, o + remLen).toString('utf8') as SystemId;
    o += 255;
    const createdMs = Number(plain.readBigUInt64BE(o));
    const expiresMs = Number(plain.readBigUInt64BE(o + 8));
    return { kind: 'record', record: { keyId, key, remote, createdMs, expiresMs } };
  } finally {
    plain.fill(0);
  }
}

export const slotOffset = (index: number): number => HEADER_BYTES + index * SLOT_BYTES;
