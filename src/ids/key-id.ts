// keyId, draft-cisco-skip-02 §4.2.1: a hex-encoded identifier, 128 bits by default.
// Parsed once into a branded type; stored and compared in lower case.

import { randomBytes } from 'node:crypto';

export type KeyId = string & { readonly __brand: 'KeyId' };

/** Bytes of a keyId this KP draws: 128 bits, the draft's default (§4.2.1). */
export const KEY_ID_BYTES = 16;
/** Longest keyId accepted from anyone: 64 bytes, 128 hex digits. */
export const MAX_KEY_ID_HEX = 128;

export type KeyIdParse =
  { readonly ok: true; readonly keyId: KeyId } | { readonly ok: false; readonly problem: string };

/** Validates a keyId from a URL or a peer body; the problem text is safe to show a client. */
export function parseKeyId(s: string): KeyIdParse {
  const fail = (problem: string): KeyIdParse => ({ ok: false, problem });
  if (s.length === 0) return fail('keyId is empty');
  if (s.length > MAX_KEY_ID_HEX) return fail(`keyId is longer than ${MAX_KEY_ID_HEX} hex digits`);
  if (!/^[0-9a-fA-F]*$/.test(s)) return fail('keyId must be hexadecimal digits only');
  if (s.length % 2 !== 0) return fail('keyId must have an even number of hex digits');
  return { ok: true, keyId: s.toLowerCase() as KeyId };
}

export function newKeyId(rng: (n: number) => Buffer = randomBytes): KeyId {
  return rng(KEY_ID_BYTES).toString('hex') as KeyId;
}
