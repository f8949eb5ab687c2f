// The KP-to-KP exchange of the reference Python Key Provider (docs/peer-protocol.md), parsed
// once at the boundary, plus our backward-compatible extension
// `confirm`: proof that the sender holds the shared secret for exactly these fields.

import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { KEY_BITS } from '../config/load.js';
import { parseKeyId, type KeyId } from '../ids/key-id.js';
import { parseSystemId, type SystemId } from '../ids/system-id.js';
import { MLKEM1024 } from '../kem/pem.js';

export const EXCHANGE_PATH = '/key-exchange';
/** A request body is about 3.3 KB; anything past this is not one of ours or the reference's. */
export const MAX_EXCHANGE_BODY_BYTES = 8_192;
const CONFIRM_INFO = Buffer.from('skip-server/key-exchange/confirm/v1\0');

export interface ExchangeRequest {
  systemId: SystemId;
  keyId: KeyId;
  /** Key length in bits; the key is the first lengthBits/8 bytes of the shared secret. */
  lengthBits: number;
  ciphertext: Buffer;
  confirm?: Buffer;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; detail: string };

/** Validates a peer's JSON body. Unknown fields are ignored, as the reference ignores ours. */
export function parseExchange(body: unknown): Parsed<ExchangeRequest> {
  const fail = (detail: string): Parsed<ExchangeRequest> => ({ ok: false, detail });
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail('body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.system_id !== 'string') return fail('"system_id" must be a string');
  const systemId = parseSystemId(b.system_id);
  if (!systemId) return fail('"system_id" is not a valid system ID');
  if (typeof b.key_id !== 'string') return fail('"key_id" must be a string');
  const keyId = parseKeyId(b.key_id);
  if (!keyId.ok) return fail(`"key_id": ${keyId.problem}`);
  const bits = b.length;
  if (
    typeof bits !== 'number' ||
    !Number.isInteger(bits) ||
    bits < KEY_BITS.min ||
    bits > KEY_BITS.max ||
    bits % 8 !== 0
  ) {
    return fail(`"length" must be ${KEY_BITS.min} to ${KEY_BITS.max} bits in multiples of 8`);
  }
  const hexLen = MLKEM1024.ciphertext * 2;
  if (
    typeof b.ciphertext !== 'string' ||
    b.ciphertext.length !== hexLen ||
    !/^[0-9a-fA-F]*$/.test(b.ciphertext)
  ) {
    return fail(`"ciphertext" must be ${hexLen} hex digits (an ML-KEM-1024 ciphertext)`);
  }
  let confirm: Buffer | undefined;
  if (b.confirm !== undefined) {
    if (typeof b.confirm !== 'string' || !/^[0-9a-fA-F]{64}$/.test(b.confirm))
      return fail('"confirm" must be 64 hex digits');
    confirm = Buffer.from(b.confirm, 'hex');
  }
  return {
    ok: true,
    value: {
      systemId,
      keyId: keyId.keyId,
      lengthBits: bits,
      ciphertext: Buffer.from(b.ciphertext, 'hex'),
      ...(confirm && { confirm }),
    },
  };
}

export function exchangeBody(req: {
  systemId: string;
  keyId: KeyId;
  lengthBits: number;
  ciphertext: Buffer;
  confirm?: Buffer;
}): string {
  return JSON.stringify({
    system_id: req.systemId,
    key_id: req.keyId,
    length: req.lengthBits,
    ciphertext: req.ciphertext.toString('hex'),
    ...(req.confirm && { confirm: req.confirm.toString('hex') }),
  });
}

export function successBody(keyId: KeyId): { status: string; message: string } {
  return { status: 'success', message: `Key with keyId ${keyId} successfully received.` };
}

function lp(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.alloc(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

/**
 * confirm = HMAC-SHA-256(ck, ctx || ciphertext), where
 *   ctx = lp(sender) || lp(receiver) || lp(keyId) || u16(lengthBits), lp(s) = u16(len) || UTF-8(s),
 *   ck  = HKDF-SHA-256(IKM = the 32-byte shared secret, salt = empty, info = INFO || ctx, L = 32).
 * keyId in lower case. The key handed to encryptors (a prefix of the shared secret) is not
 * derivable from ck or the tag.
 */
export function confirmTag(
  sharedSecret: Uint8Array,
  f: { sender: string; receiver: string; keyId: KeyId; lengthBits: number; ciphertext: Uint8Array },
): Buffer {
  const bits = Buffer.alloc(2);
  bits.writeUInt16BE(f.lengthBits, 0);
  const ctx = Buffer.concat([lp(f.sender), lp(f.receiver), lp(f.keyId), bits]);
  const ck = hkdfSha256(sharedSecret, Buffer.concat([CONFIRM_INFO, ctx]));
  try {
    return createHmac('sha256', ck).update(ctx).update(f.ciphertext).digest();
  } finally {
    ck.fill(0);
  }
}

/** HKDF's empty salt (32 zero bytes), the key of every Extract: imported once, not per call
 * (node:crypto re-imports a Buffer key in each createHmac; not a secret). */
const ZERO_SALT = createSecretKey(Buffer.alloc(32));

/** HKDF-SHA-256 (RFC 5869) with an empty salt, 32 bytes out: Extract, then one Expand block.
 * Done with HMAC directly: node's hkdfSync wraps its input in a KeyObject on every call. The
 * PRK and ck are used once each and stay Buffers, so they can be zeroed. */
function hkdfSha256(ikm: Uint8Array, info: Buffer): Buffer {
  const prk = createHmac('sha256', ZERO_SALT).update(ikm).digest();
  try {
    return createHmac('sha256', prk)
      .update(info)
      .update(Buffer.from([1]))
      .digest();
  } finally {
    prk.fill(0);
  }
}

export function confirmMatches(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}
