// The TLS 1.3 record layer (RFC 8446 §5): framing with size limits, and AEAD protection with
// per-record nonces (IV xor sequence number), inner content type and padding.

import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { ALERT, CONTENT, MAX_CIPHERTEXT, MAX_PLAINTEXT } from './constants.js';
import { HASH_LEN, trafficKeys, type Hash } from './key-schedule.js';

/** What kind of refusal, for the metric's reason label: set where the kind is known, so it need
 * not be read back from the words. */
export type RefusalKind =
  | 'unknown_identity'
  | 'wrong_psk'
  | 'timeout'
  | 'version'
  | 'no_common_profile'
  | 'client_closed'
  | 'malformed';

/** A refusal: the alert to send, and why, in words for the log. */
export class AlertError extends Error {
  constructor(
    readonly alert: number,
    message: string,
    readonly kind?: RefusalKind,
  ) {
    super(message);
  }
}

export interface RawRecord {
  type: number;
  /** The 5-byte header, the AEAD's additional data for a protected record. */
  header: Buffer;
  body: Buffer;
}

/** Splits a byte stream into records; refuses a length over the ciphertext limit at once. */
export class RecordReader {
  private chunks: Buffer[] = [];
  private size = 0;

  push(data: Buffer): void {
    this.chunks.push(data);
    this.size += data.length;
  }

  /** The next whole record, or undefined until more bytes arrive. */
  next(): RawRecord | undefined {
    if (this.size < 5) return undefined;
    // The header from the first chunks alone: the bytes are joined once the record is whole, so
    // a record trickling in a byte at a time costs no more than one arriving at once.
    const head = this.chunks[0]!.length >= 5 ? this.chunks[0]! : this.firstBytes(5);
    const type = head[0]!;
    const length = head.readUInt16BE(3);
    if (![CONTENT.ccs, CONTENT.alert, CONTENT.handshake, CONTENT.application].includes(type as 20))
      throw new AlertError(ALERT.unexpectedMessage, `record of unknown content type ${type}`);
    if (head[1] !== 3) throw new AlertError(ALERT.decodeError, 'record version is not 3.x');
    if (length > MAX_CIPHERTEXT)
      throw new AlertError(ALERT.recordOverflow, `record of ${length} bytes (limit ${MAX_CIPHERTEXT})`);
    if (this.size < 5 + length) return undefined;
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const buf = this.chunks[0]!;
    const header = Buffer.from(buf.subarray(0, 5));
    const body = Buffer.from(buf.subarray(5, 5 + length));
    const rest = buf.subarray(5 + length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return { type, header, body };
  }

  /** The first `n` bytes held (there are at least `n`), joined from as few chunks as needed. */
  private firstBytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    let at = 0;
    for (const c of this.chunks) {
      at += c.copy(out, at, 0, Math.min(c.length, n - at));
      if (at === n) break;
    }
    return out;
  }

  /** Bytes held that are not yet a whole record. */
  get pending(): number {
    return this.size;
  }
}

export const AEAD = {
  'aes-256-gcm': { keyLength: 32 },
  'aes-128-gcm': { keyLength: 16 },
} as const;
export type Aead = keyof typeof AEAD;

/** One direction's protection: a traffic secret's key and IV, and its sequence number. The key is
 * a KeyObject made once, so each record's cipher does not import it again; a KeyObject cannot be
 * zeroed (docs/tls13-engine.md, "Key material"), the IV and the derived key bytes are. */
export class RecordProtection {
  private readonly key: KeyObject;
  private readonly iv: Buffer;
  private readonly n = Buffer.alloc(12);
  private seq = 0n;

  constructor(
    hash: Hash,
    secret: Buffer,
    private readonly aead: Aead = 'aes-256-gcm',
  ) {
    if (secret.length !== HASH_LEN[hash]) throw new Error('traffic secret of the wrong length');
    const k = trafficKeys(hash, secret, AEAD[aead].keyLength);
    this.key = createSecretKey(k.key);
    k.key.fill(0);
    this.iv = k.iv;
  }

  /** The per-record nonce: the IV with the sequence number xored into its last 8 bytes (§5.3). */
  private nonce(): Buffer {
    if (this.seq >= 0xffffffffffffffffn)
      throw new AlertError(ALERT.internalError, 'sequence number exhausted');
    const n = this.n;
    n.fill(0, 0, 4);
    n.writeBigUInt64BE(this.seq++, 4);
    for (let i = 0; i < 12; i++) n[i]! ^= this.iv[i]!;
    return n;
  }

  /** A protected record (TLSCiphertext) holding `content` of `type`. */
  seal(type: number, content: Buffer): Buffer {
    if (content.length > MAX_PLAINTEXT) throw new Error('record content over 2^14 bytes');
    const length = content.length + 1 + 16;
    const header = Buffer.from([CONTENT.application, 3, 3, length >> 8, length & 0xff]);
    const c = createCipheriv(this.aead, this.key, this.nonce());
    c.setAAD(header);
    return Buffer.concat(
      [header, c.update(content), c.update(Buffer.from([type])), c.final(), c.getAuthTag()],
      5 + length,
    );
  }

  /** The inner type and content of a protected record; bad_record_mac if it does not open. */
  open(record: RawRecord): { type: number; content: Buffer } {
    if (record.type !== CONTENT.application)
      throw new AlertError(ALERT.unexpectedMessage, `unprotected ${record.type} record after keys were set`);
    if (record.body.length < 17) throw new AlertError(ALERT.badRecordMac, 'protected record too short');
    const d = createDecipheriv(this.aead, this.key, this.nonce());
    d.setAAD(record.header);
    d.setAuthTag(record.body.subarray(record.body.length - 16));
    let inner: Buffer;
    try {
      inner = d.update(record.body.subarray(0, record.body.length - 16));
      d.final();
    } catch {
      throw new AlertError(ALERT.badRecordMac, 'record failed authentication');
    }
    if (inner.length > MAX_PLAINTEXT + 1)
      throw new AlertError(ALERT.recordOverflow, `record plaintext of ${inner.length} bytes`);
    // Content type padding: zeros after the real type byte (§5.4).
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) throw new AlertError(ALERT.unexpectedMessage, 'record with no content type');
    return { type: inner[end - 1]!, content: inner.subarray(0, end - 1) };
  }

  /** Wipes the IV and the nonce; the key's KeyObject goes with this object at GC. */
  wipe(): void {
    this.iv.fill(0);
    this.n.fill(0);
  }
}

/** An unprotected record (before the server's keys, or an alert then). */
export function plainRecord(type: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, 3, 3, content.length >> 8, content.length & 0xff]), content]);
}
